package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/sqlite"
)

// migrateStoreCmd copies a single node's SQLite store into an empty PostgreSQL store, for
// moving to several nodes. The seal key stays what it was: give it to every node (docs/cluster.md).
// migrateStoreFlags are migrate-store's options, for the command and for its help and man page.
func migrateStoreFlags(stderr io.Writer) (fs *flag.FlagSet, c *common, from, to *string) {
	fs, c = flags("migrate-store", stderr, false)
	from = fs.String("from", "", "data directory of the SQLite store to copy (default --data-dir)")
	to = fs.String("to", "", "postgres://… URL of the empty PostgreSQL store to fill")
	return fs, c, from, to
}

func migrateStoreCmd(args []string, stdout, stderr io.Writer) error {
	fs, c, from, to := migrateStoreFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		*from = c.dataDir
	}
	if !postgres.IsDSN(*to) {
		return errors.New("migrate-store needs --to postgres://USER:PASSWORD@HOST:PORT/DB")
	}
	path := filepath.Join(*from, "gatehouse.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no SQLite store at %s", path)
	}
	ctx := context.Background()
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }() // read only: closing the source loses nothing
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer func() { _ = dst.Close() }() // the import committed or failed already; closing the pool reports nothing more
	rep, err := dst.ImportSQLite(ctx, src.DB())
	if err != nil {
		return fmt.Errorf("migrate-store: nothing copied: %w", err)
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(stdout, "%-20s %d rows\n", t, rep.Rows[t])
	}
	fmt.Fprintf(stdout, "Copied %s into PostgreSQL. Start every node with --store and the same seal key (%s).\n",
		path, filepath.Join(*from, "seal.key"))
	return nil
}
