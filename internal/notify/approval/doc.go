// Package approval is the second factor where a person, not a code, lets a
// login through: the bastion posts the request to team chat with Approve and
// Deny, the user waits with a countdown, and the session goes on only when
// an allowed approver approves in time.
//
// Lifecycle of a request (Record):
//
//	Start ──▶ Pending ──▶ Approved | Denied   (Manager.Decide, first write wins)
//	                 └──▶ Expired             (deadline, user gone, or not delivered)
//
// Invariants:
//   - Only Approved lets Wait return a nil error. Every other outcome (denied,
//     expired, undelivered, store error, context ended) is an error: fail closed.
//   - A request leaves Pending exactly once (Store.Finish is a compare-and-set),
//     so a replayed, late or concurrent decision is refused, never applied twice.
//   - Who decided is always recorded (Record.DecidedBy) and reported to the
//     Observer for the audit log; refused attempts are reported too.
//   - The pure rule in check decides who may decide: four eyes (the requester
//     may not approve their own request), the approver list, and identity
//     (when either is on, an unidentified party cannot approve).
//
// Ways to decide:
//   - SlackHandler: Slack's interactive callback for the Approve/Deny
//     buttons. It verifies the v0 signature over the raw body, refuses
//     timestamps more than 5 minutes off and replayed signatures, then maps
//     the Slack user to a gatehouse account (SlackUsers).
//   - LinkHandler: one-time signed links (LinkSigner) for channels without
//     buttons. GET only shows a confirmation page; only POST decides, so link
//     previewers and mail scanners cannot approve. A link may be bound to one
//     approver account (a channel per approver).
//
// Several bastion nodes may share one Store: Wait re-reads the store every
// Manager poll interval, so a decision taken on another node is seen within
// that interval; on the deciding node the waiter wakes at once.
package approval
