package restricted

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// infoList is accountInfo --all's and accountList --audit's value: every account's Info, by
// name. It writes its own JSON (osh.JSONAppender): at 10,000 accounts (~10 MB) encoding/json's
// reflection over a map of structs was half of the command's time (issue 14). The bytes are
// those encoding/json writes for map[string]*Info (TestInfoStructsEncodeAsMaps,
// TestInfoListAppendsAsEncodingJSON).
type infoList []*Info

// sorted sorts the list by name, as encoding/json sorts a map's keys.
func (l infoList) sorted() infoList {
	slices.SortFunc(l, func(a, b *Info) int { return strings.Compare(a.Account, b.Account) })
	return l
}

// AppendJSON writes the list as one JSON object, account name → its Info.
func (l infoList) AppendJSON(b []byte) []byte {
	// An account's Info is ~1 KB: growing a 10 MB answer by doubling was a fifth of its time.
	return l.StreamJSON(slices.Grow(b, 1100*len(l)+2), nil)
}

// StreamJSON implements osh.JSONStreamer: AppendJSON in parts (flush nil: whole).
func (l infoList) StreamJSON(b []byte, flush func([]byte) []byte) []byte {
	b = append(b, '{')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = osh.AppendJSONString(b, v.Account)
		b = append(b, ':')
		b = v.appendJSON(b)
		if flush != nil && len(b) >= osh.JSONStreamChunk {
			b = flush(b)
		}
	}
	return append(b, '}')
}

// MarshalJSON is AppendJSON for encoding/json (which escapes HTML in it when asked).
func (l infoList) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

// infoLazy is infoList when every account's Info is made from what the command already read
// (accountList --audit; accountInfo --all without the options that read more per account):
// each Info is made as the answer is written and dropped at once, rather than 10,000 held
// until then (what the garbage collector scanned), and not at all when no JSON is asked for.
// The commands' fill functions reuse their parts row after row (issue 14): a value is encoded
// by one goroutine at a time (the session's, once).
type infoLazy struct {
	accounts []store.Account // sorted by name, in Go's order (byName)
	// fill makes a's Info into v (fillInfo, fillAuditRow).
	fill func(a *store.Account, v *Info)
}

// byName sorts accounts by name as encoding/json sorts a map's keys (the database's collation
// may differ).
func byName(accounts []store.Account) []store.Account {
	slices.SortFunc(accounts, func(a, b store.Account) int { return strings.Compare(a.Name, b.Name) })
	return accounts
}

// AppendJSON writes the object account name → Info, as infoList does.
func (l infoLazy) AppendJSON(b []byte) []byte {
	return l.StreamJSON(slices.Grow(b, 1100*len(l.accounts)+2), nil)
}

// StreamJSON implements osh.JSONStreamer: AppendJSON in parts (flush nil: whole), each Info
// made as it is written.
func (l infoLazy) StreamJSON(b []byte, flush func([]byte) []byte) []byte {
	b = append(b, '{')
	var v Info // one for all, written out before the next is made
	var groups InfoGroups
	for i := range l.accounts {
		if i > 0 {
			b = append(b, ',')
		}
		a := &l.accounts[i]
		if v.Groups != nil {
			groups = v.Groups // kept even where a row drops it (fillAuditRow)
		}
		clear(groups)
		v = Info{Groups: groups}
		l.fill(a, &v)
		b = osh.AppendJSONString(b, a.Name)
		b = append(b, ':')
		b = v.appendJSON(b)
		if flush != nil && len(b) >= osh.JSONStreamChunk {
			b = flush(b)
		}
	}
	return append(b, '}')
}

// MarshalJSON is AppendJSON for encoding/json.
func (l infoLazy) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

// appendJSON writes v as encoding/json writes *Info: the fields in order, omitempty and
// omitzero as their tags say.
func (v *Info) appendJSON(b []byte) []byte {
	str := func(b []byte, key, s string) []byte {
		b = append(b, key...)
		return osh.AppendJSONString(b, s)
	}
	num := func(b []byte, key string, n int64) []byte {
		b = append(b, key...)
		return strconv.AppendInt(b, n, 10)
	}
	b = str(b, `{"account":`, v.Account)
	b = append(b, `,"account_egress_ssh_config":{`...)
	if it := v.AccountEgressSSHConfig.Items; it != nil {
		b = append(b, `"items":{`...)
		sep := ""
		for _, kv := range [...]struct{ k, v string }{{"controlmaster", it.ControlMaster}, {"controlpath", it.ControlPath},
			{"stricthostkeychecking", it.StrictHostKeyChecking}, {"userknownhostsfile", it.UserKnownHostsFile}} {
			if kv.v != "" {
				b = str(b, sep+`"`+kv.k+`":`, kv.v)
				sep = ","
			}
		}
		b = append(b, "},"...)
	}
	b = str(b, `"type":`, v.AccountEgressSSHConfig.Type)
	b = append(b, `},"allowed_commands":`...)
	b = appendStrings(b, v.AllowedCommands)
	b = num(b, `,"already_seen_before":`, int64(v.AlreadySeenBefore))
	b = num(b, `,"always_active":`, int64(v.AlwaysActive))
	if v.AlwaysActiveReason != "" {
		b = str(b, `,"always_active_reason":`, v.AlwaysActiveReason)
	}
	b = num(b, `,"can_connect":`, int64(v.CanConnect))
	b = str(b, `,"comment":`, v.Comment)
	b = num(b, `,"created":`, v.Created)
	b = str(b, `,"created_by":`, v.CreatedBy)
	ci := &v.CreationInformation
	b = str(b, `,"creation_information":{"by":`, ci.By)
	b = str(b, `,"comment":`, ci.Comment)
	b = str(b, `,"datetime_local":`, ci.DatetimeLocal)
	b = str(b, `,"datetime_utc":`, ci.DatetimeUTC)
	b = num(b, `,"timestamp":`, ci.Timestamp)
	b = num(b, `},"effective_ingress_piv_policy":`, int64(v.EffectiveIngressPIVPolicy))
	if v.EgressKeys != nil {
		b = appendAny(append(b, `,"egress_keys":`...), v.EgressKeys)
	}
	if v.ExpiredDays != nil {
		b = num(b, `,"expired_days":`, int64(*v.ExpiredDays))
	}
	if v.FreezeInfo != nil {
		b = str(b, `,"freeze_info":{"reason":`, v.FreezeInfo.Reason)
		b = append(b, '}')
	}
	if v.FreezeReason != nil {
		b = str(b, `,"freeze_reason":`, *v.FreezeReason)
	}
	b = num(b, `,"global_ingress_policy":`, int64(v.GlobalIngressPolicy))
	if v.Groups != nil {
		b = append(b, `,"groups":{`...)
		names := make([]string, 0, len(v.Groups))
		for n := range v.Groups {
			names = append(names, n)
		}
		slices.Sort(names)
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			g := v.Groups[n]
			b = osh.AppendJSONString(b, n)
			b = append(b, `:{"flags":`...)
			b = appendStrings(b, g.Flags)
			b = str(b, `,"name":`, g.Name)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = num(b, `,"idle_ignore":`, int64(v.IdleIgnore))
	b = num(b, `,"ingress_piv_enforced":`, int64(v.IngressPIVEnforced))
	b = num(b, `,"ingress_piv_grace":{"enabled":`, int64(v.IngressPIVGrace.Enabled))
	b = append(b, `},"ingress_piv_policy":null`...) // IngressPIVPolicy is never set
	b = num(b, `,"is_active":`, int64(v.IsActive))
	b = optFlag(b, `,"is_admin":`, v.IsAdmin)
	b = optFlag(b, `,"is_auditor":`, v.IsAuditor)
	b = num(b, `,"is_expired":`, int64(v.IsExpired))
	b = num(b, `,"is_frozen":`, int64(v.IsFrozen))
	b = optFlag(b, `,"is_superowner":`, v.IsSuperOwner)
	b = num(b, `,"is_ttl_expired":`, int64(v.IsTTLExpired))
	b = num(b, `,"is_ttl_set":`, int64(v.IsTTLSet))
	if la := v.LastActivity; la != nil && la.sentence != "" {
		b = str(b, `,"last_activity":`, la.sentence)
	} else if la != nil {
		b = str(b, `,"last_activity":{"ago":`, la.Ago)
		b = str(b, `,"datetime_local":`, la.DatetimeLocal)
		b = str(b, `,"datetime_utc":`, la.DatetimeUTC)
		b = num(b, `,"timestamp":`, la.Timestamp)
		b = append(b, '}')
	} else {
		b = append(b, `,"last_activity":null`...)
	}
	if v.LastActivityTimestamp != 0 {
		b = num(b, `,"last_activity_timestamp":`, v.LastActivityTimestamp)
	}
	if v.MaxInactiveDays != nil {
		b = num(b, `,"max_inactive_days":`, int64(*v.MaxInactiveDays))
	} else {
		b = append(b, `,"max_inactive_days":null`...)
	}
	b = num(b, `,"mfa_password_bypass":`, int64(v.MFAPasswordBypass))
	b = num(b, `,"mfa_password_configured":`, int64(v.MFAPasswordConfigured))
	b = num(b, `,"mfa_password_required":`, int64(v.MFAPasswordRequired))
	b = num(b, `,"mfa_totp_bypass":`, int64(v.MFATOTPBypass))
	b = num(b, `,"mfa_totp_configured":`, int64(v.MFATOTPConfigured))
	b = num(b, `,"mfa_totp_required":`, int64(v.MFATOTPRequired))
	if v.Name != "" {
		b = str(b, `,"name":`, v.Name)
	}
	b = num(b, `,"osh_only":`, int64(v.OshOnly))
	b = num(b, `,"pam_auth_bypass":`, int64(v.PamAuthBypass))
	if v.Password != nil {
		b = appendAny(append(b, `,"password":`...), v.Password)
	}
	if p := v.AuditPassword; p != nil {
		b = optStr(b, `,"password_date_changed":`, p.DateChanged)
		b = num(b, `,"password_date_changed_timestamp":`, p.DateChangedTimestamp)
		b = optStr(b, `,"password_date_disabled":`, p.DateDisabled)
		b = num(b, `,"password_date_disabled_timestamp":`, p.DateDisabledTimestamp)
		b = num(b, `,"password_inactive_days":`, int64(p.InactiveDays))
		b = num(b, `,"password_max_days":`, int64(p.MaxDays))
		b = num(b, `,"password_min_days":`, int64(p.MinDays))
		b = str(b, `,"password_name":`, p.Name)
		b = str(b, `,"password_password":`, p.Password)
		b = str(b, `,"password_user":`, p.User)
		b = num(b, `,"password_warn_days":`, int64(p.WarnDays))
	}
	b = str(b, `,"personal_egress_mfa_required":`, v.PersonalEgressMFARequired)
	b = num(b, `,"pubkey_auth_optional":`, int64(v.PubkeyAuthOptional))
	if d := v.TTLExpiredDetails; d != nil {
		b = str(b, `,"ttl_expired_details":{"date":`, d.Date)
		b = str(b, `,"datetime_local":`, d.DatetimeLocal)
		b = str(b, `,"datetime_utc":`, d.DatetimeUTC)
		b = str(b, `,"duration":`, d.Duration)
		b = str(b, `,"human":`, d.Human)
		b = append(b, '}')
	}
	b = optInt(b, `,"ttl_expires":`, v.TTLExpires)
	b = optInt(b, `,"ttl_timestamp":`, v.TTLTimestamp)
	return append(b, '}')
}

// appendStrings writes a []string as encoding/json does (nil: null).
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = osh.AppendJSONString(b, s)
	}
	return append(b, ']')
}

func optFlag(b []byte, key string, f *int) []byte {
	if f == nil {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(*f), 10)
}

func optStr(b []byte, key string, s *string) []byte {
	b = append(b, key...)
	if s == nil {
		return append(b, "null"...)
	}
	return osh.AppendJSONString(b, *s)
}

func optInt(b []byte, key string, n *int64) []byte {
	b = append(b, key...)
	if n == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *n, 10)
}

// appendAny writes the values asked for by option (egress keys, password information), which
// infoList's builders encode beforehand (rawJSON, where an error can be answered).
func appendAny(b []byte, x any) []byte {
	if raw, ok := x.(json.RawMessage); ok {
		return append(b, raw...)
	}
	raw, err := rawJSON(x)
	if err != nil {
		// Not reached: the builders store these values as json.RawMessage.
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// rawJSON encodes x as encoding/json does with HTML escaping off, compact.
func rawJSON(x any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// egressKeysJSON is an account's egress keys as accountInfo --with-egress-keys shows them
// (EgressKeysByFingerprint), encoded: {} for an account without any, the common case.
func egressKeysJSON(keys []store.EgressKey, from []string) any {
	if len(keys) == 0 {
		return json.RawMessage(`{}`)
	}
	raw, err := rawJSON(common.EgressKeysByFingerprint(&osh.Printer{W: io.Discard, Quiet: true}, keys, from))
	if err != nil {
		return nil // not reached: strings and numbers
	}
	return raw
}
