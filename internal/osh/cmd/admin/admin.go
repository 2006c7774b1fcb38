// Package admin holds the commands only bastion admins may run.
package admin

import (
	"context"

	"gatehouse/internal/osh"
)

// Register adds the admin commands to r.
func Register(r *osh.Registry) {
	r.Add(&osh.Command{Name: "adminMaintenance", Category: osh.Admin, Summary: "put the bastion in maintenance mode, or take it out",
		Options: []osh.Option{
			{Name: "lock", Kind: osh.Flag, Help: "enter maintenance mode: only admins may log in"},
			{Name: "unlock", Kind: osh.Flag, Help: "leave maintenance mode"},
			{Name: "message", Kind: osh.Words, Help: "shown to the accounts that are refused"},
		}, Run: maintenance})
}

func maintenance(ctx context.Context, c *osh.Call) osh.Result {
	lock, unlock := c.Args.Has("lock"), c.Args.Has("unlock")
	if lock == unlock {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "give exactly one of --lock or --unlock")
	}
	value := ""
	if lock {
		value = c.Args.String("message")
		if value == "" {
			value = "the bastion is in maintenance"
		}
	}
	was, err := c.Env.Store.BastionSetting(ctx, osh.MaintenanceSetting)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot read the maintenance state: %v", err)
	}
	if (was != "") == lock && (!lock || was == value) {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "Nothing to change", Value: map[string]any{"maintenance": boolInt(lock)}}
	}
	if err := c.Env.Store.SetBastionSetting(ctx, osh.MaintenanceSetting, value, c.Caller().Name); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot change the maintenance state: %v", err)
	}
	if lock {
		c.P.Line("Maintenance mode is ON: accounts other than admins are refused (%s).", value)
	} else {
		c.P.Line("Maintenance mode is OFF.")
	}
	return osh.OK("", map[string]any{"maintenance": boolInt(lock), "message": value})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
