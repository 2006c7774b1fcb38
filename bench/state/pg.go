package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// pgURL is -postgres: a postgres:// URL of a role that may create databases ("" for SQLite).
var pgURL string

// freshStore returns the store option of app.Options for one state: "" (SQLite in the data
// directory), or a new PostgreSQL database on -postgres's server, and what drops it.
func freshStore(ctx context.Context) (string, func(), error) {
	if pgURL == "" {
		return "", func() {}, nil
	}
	u, err := url.Parse(pgURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-postgres must be a postgres:// URL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gatehouse_state_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to -postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() {
		conn, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
