package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Delivery says how many channels must accept a message for a factor to go on.
type Delivery int

const (
	// DeliverAll: every configured channel must accept, else the factor
	// fails closed. The default: a channel that silently stopped working is
	// found at the first login, not weeks later.
	DeliverAll Delivery = iota
	// DeliverAny: one accepting channel is enough (e.g. one channel per team,
	// any team may answer). Failures of the other channels are logged.
	DeliverAny
)

var (
	// ErrUndelivered: the message did not reach enough channels; the factor
	// must fail closed (or fall back to another factor, if configured).
	ErrUndelivered = errors.New("notify: message not delivered")
	// ErrNoChannel: no channel is configured for the factor.
	ErrNoChannel = errors.New("notify: no channel configured")
)

// Outgoing pairs a channel with the message it gets (approval messages carry
// links bound to the channel's approver, so they may differ per channel).
type Outgoing struct {
	Sender  Sender
	Message *Message
}

// Deliver sends every Outgoing concurrently and waits for all of them (each
// bounded by its sender's timeout and ctx). Each failure is logged to log
// (nil: slog.Default) by channel name and reason, never URL or code. It
// returns nil when the mode is satisfied, else an error wrapping
// ErrUndelivered and each *DeliveryError.
func Deliver(ctx context.Context, log *slog.Logger, mode Delivery, out []Outgoing) error {
	if log == nil {
		log = slog.Default()
	}
	if len(out) == 0 {
		return fmt.Errorf("%w: configure at least one channel for this factor", ErrNoChannel)
	}
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for i, o := range out {
		wg.Go(func() { errs[i] = o.Sender.Send(ctx, o.Message) })
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			log.WarnContext(ctx, "notification not delivered", "channel", out[i].Sender.Name(),
				"kind", out[i].Message.Kind.String(), "label", out[i].Message.Label, "err", err)
		}
	}
	switch {
	case failed == 0:
		return nil
	case mode == DeliverAny && failed < len(out):
		return nil
	}
	return fmt.Errorf("%w (%d of %d channels failed): %w", ErrUndelivered, failed, len(out), errors.Join(errs...))
}
