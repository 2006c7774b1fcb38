// Command state measures the --osh listing and searching commands against a large state (issue
// 14): for each size it builds, through the store, N accounts, N/10 groups and 2N servers, then
// runs each command in the process (the dispatcher, as an SSH session would, without the SSH
// connection) and reports the wall time and CPU of each.
//
//	go run ./bench/state [-sizes 0,1000,10000] [-runs 5] [-postgres URL]
//
// The state at N accounts: every account has one ingress key; groups g0..g(N/10-1) have 20
// servers each (10.G.x.y/32 and a /24 every fifth group), 10 members, 2 owners; every tenth account
// has a personal access, every twentieth a guest access. The admin account runs the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/app"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

func main() {
	sizes := flag.String("sizes", "0,1000,10000", "account counts to measure, comma-separated")
	runs := flag.Int("runs", 5, "timed runs of each command at each size (after one untimed)")
	flag.StringVar(&profileCmd, "cpuprofile-command", "", "write a CPU profile of this command's timed runs at the last size to state-COMMAND.pprof")
	flag.StringVar(&pgURL, "postgres", "", "a postgres:// URL of a role that may create databases: each state in a new database there (default: SQLite)")
	flag.StringVar(&memProfileCmd, "memprofile-command", "", "write the allocations of this command's runs at the last size to state-COMMAND.allocs.pprof (and .base.pprof before them: go tool pprof -base)")
	flag.StringVar(&onlyCmds, "only", "", "measure only the commands whose name (with its options, as printed) contains this")
	dumpFile := flag.String("dump", "", "instead of measuring: write every listing command's JSON answer on a varied state of -sizes accounts (one size) to this file")
	flag.Parse()
	if *dumpFile != "" {
		n, err := strconv.Atoi(*sizes)
		if err == nil {
			err = dump(n, *dumpFile)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "state:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*sizes, *runs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "state:", err)
		os.Exit(1)
	}
}

// profileCmd is the command whose runs -cpuprofile-command profiles; onlyCmds filters them.
var profileCmd, memProfileCmd, onlyCmds string

// command is one measured --osh command with its arguments.
type command struct {
	name string
	args []string
}

func commands(n int) []command {
	acct := "a" + strconv.Itoa(max(n/2, 0))
	g := "g" + strconv.Itoa(max(n/20, 0))
	guestGroup := "g" + strconv.Itoa(n/2/20%max(n/10, 1)) // where build made acct a guest
	return []command{
		{"info", nil},
		{"help", nil},
		{"selfListAccesses", nil},
		{"selfListIngressKeys", nil},
		{"selfListSessions", nil},
		{"accountList", nil},
		{"accountList --audit", []string{"--audit"}},
		{"accountInfo --all", []string{"--all"}},
		{"accountInfo --all --with-everything", []string{"--all", "--with-everything"}},
		{"accountInfo", []string{"--account", acct}},
		{"accountListAccesses", []string{"--account", acct}},
		{"accountListIngressKeys", []string{"--account", acct}},
		{"accountListEgressKeys", []string{"--account", acct}},
		{"accountListSessions", []string{"--account", acct}},
		{"groupList", nil},
		{"groupList --all", []string{"--all"}},
		{"groupInfo --all", []string{"--all"}},
		{"groupInfo", []string{"--group", g}},
		{"groupListServers", []string{"--group", g}},
		{"groupListGuestAccesses", []string{"--group", guestGroup, "--account", acct}},
		{"whoHasAccessTo", []string{"--host", "10." + strconv.Itoa(n/20%200) + ".0.3"}},
		{"whoHasAccessTo --user root --port 22", []string{"--host", "10.1.0.3", "--user", "root", "--port", "22"}},
	}
}

func run(sizeList string, runs int, w io.Writer) error {
	fmt.Fprintf(w, "load average at start: %s\n", loadavg())
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("-sizes: %q", s)
		}
		if err := measure(n, runs, w); err != nil {
			return fmt.Errorf("at %d accounts: %w", n, err)
		}
	}
	return nil
}

func measure(n, runs int, w io.Writer) error {
	ctx := context.Background()
	a, done, err := openState(ctx, "gatehouse-state-")
	if err != nil {
		return err
	}
	defer done()
	t0 := time.Now()
	if err := build(ctx, a.Store, n); err != nil {
		return err
	}
	built := time.Since(t0)
	admin, err := a.Store.GetAccount(ctx, "admin")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n## %d accounts, %d groups, %d group servers (built through the store in %.1f s); %d runs per command; load %s\n\n",
		n, n/10, 20*(n/10), built.Seconds(), runs, loadavg())
	fmt.Fprintln(w, "| command | median (ms) | max (ms) | CPU median (ms) | CPU max (ms) | of which JSON (ms) | JSON (bytes) | allocated (MB/call) | allocations/call | GC cycles/call | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, c := range commands(n) {
		if !strings.Contains(c.name, onlyCmds) {
			continue
		}
		name, _, _ := strings.Cut(c.name, " ")
		var walls, cpus, jsons []float64
		var jsonBytes int64
		var allocBytes, mallocs, gcs uint64
		var m0, m1 runtime.MemStats
		var out counter
		var code string
		if c.name == profileCmd {
			f, err := os.Create("state-" + name + ".pprof")
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
		}
		if c.name == memProfileCmd {
			runtime.MemProfileRate = 4096
			if err := writeAllocs("state-" + name + ".base.pprof"); err != nil {
				return err
			}
		}
		for i := 0; i <= runs; i++ {
			// The output is formatted and written as to an SSH channel (io.Discard would let
			// the printer skip the formatting), to a writer that only counts.
			s := &osh.Session{ID: "bench", Account: admin, Roles: osh.RolesOf(admin), In: strings.NewReader(""), Out: &out, Err: &out}
			s.Reload = func(ctx context.Context) error {
				acct, err := a.Store.GetAccount(ctx, "admin")
				s.Account, s.Roles = acct, osh.RolesOf(acct)
				return err
			}
			// The JSON answer is encoded as a session does for --json (EncodeJSON, written to
			// the channel): it is part of what the caller waits for.
			// (ReadMemStats stops the world: outside the timed part.)
			runtime.ReadMemStats(&m0)
			c0, t := cpuNow(), time.Now()
			r := a.Env.Run(ctx, s, name, c.args, true)
			j0, o0 := cpuNow(), out
			if err := emitJSON(&out, r); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			wall, cpu, jcpu := time.Since(t), cpuNow()-c0, cpuNow()-j0
			runtime.ReadMemStats(&m1)
			code, jsonBytes = r.Code, int64(out-o0)
			if i > 0 { // the first run warms the caches
				walls, cpus, jsons = append(walls, ms(wall)), append(cpus, ms(cpu)), append(jsons, ms(jcpu))
				allocBytes += m1.TotalAlloc - m0.TotalAlloc
				mallocs += m1.Mallocs - m0.Mallocs
				gcs += uint64(m1.NumGC - m0.NumGC)
			}
		}
		if c.name == profileCmd {
			pprof.StopCPUProfile()
		}
		if c.name == memProfileCmd {
			if err := writeAllocs("state-" + name + ".allocs.pprof"); err != nil {
				return err
			}
		}
		k := uint64(max(runs, 1))
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %.1f | %d | %.2f | %s |\n", c.name, median(walls), slices.Max(walls), median(cpus), slices.Max(cpus),
			median(jsons), jsonBytes, float64(allocBytes/k)/1e6, mallocs/k, float64(gcs)/float64(k), code)
	}
	return nil
}

// build makes the state through the store, in batches where the store has them (a group with
// its roles, a group's server list at once).
func build(ctx context.Context, st store.Store, n int) error {
	now := time.Now()
	for i := 0; i < n; i++ {
		name := "a" + strconv.Itoa(i)
		key := store.IngressKey{Account: name, Type: "ssh-ed25519", Fingerprint: fmt.Sprintf("SHA256:bench%040d", i), Line: fmt.Sprintf("ssh-ed25519 AAAAbench%d a%d", i, i), CreatedAt: now}
		if err := st.CreateAccount(ctx, store.Account{Name: name, CreatedAt: now, CreatedBy: "admin", MaxInactiveDays: -1}, []store.IngressKey{key}); err != nil {
			return fmt.Errorf("account %s: %w", name, err)
		}
		if i%10 == 0 {
			if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLPersonal, Owner: name, Host: fmt.Sprintf("10.%d.%d.%d", i/20%200, i/256%256, i%256), User: "root", Port: 22, AddedAt: now}); err != nil {
				return err
			}
		}
	}
	groups := n / 10
	for g := 0; g < groups; g++ {
		name := "g" + strconv.Itoa(g)
		roles := map[string][]string{}
		for k := 0; k < 10; k++ {
			roles[store.RoleMember] = append(roles[store.RoleMember], "a"+strconv.Itoa((g*10+k)%n))
		}
		roles[store.RoleOwner] = []string{"a" + strconv.Itoa(g%n), "a" + strconv.Itoa((g+1)%n)}
		if err := st.CreateGroup(ctx, store.Group{Name: name, CreatedAt: now, CreatedBy: "admin", IdleLockTimeout: -1, IdleKillTimeout: -1, Roles: roles}); err != nil {
			return fmt.Errorf("group %s: %w", name, err)
		}
		var servers []store.ACLEntry
		for s := 0; s < 20; s++ {
			host := fmt.Sprintf("10.%d.%d.%d", g%200, g/200, s+1)
			if s == 0 && g%5 == 0 {
				host = fmt.Sprintf("10.%d.0.0/24", g%200)
			}
			servers = append(servers, store.ACLEntry{Host: host, User: "root", Port: 22, AddedAt: now})
		}
		if err := st.ReplaceACL(ctx, store.ACLGroup, name, servers); err != nil {
			return err
		}
	}
	for i := 0; i < n && groups > 0; i += 20 {
		g := "g" + strconv.Itoa((i/20)%groups)
		guest := "a" + strconv.Itoa(i)
		if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLGuest, Owner: g, Account: guest, Host: fmt.Sprintf("10.%d.0.3", (i/20)%groups%200), User: "root", Port: 22, AddedAt: now}); err != nil {
			return err
		}
		if _, err := st.SetRole(ctx, g, store.RoleGuest, guest, true); err != nil {
			return err
		}
	}
	return nil
}

// writeAllocs writes the allocation profile so far to file.
func writeAllocs(file string) error {
	runtime.GC() // the profile is as of the last collection
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// counter is a writer that counts the bytes written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// openState opens a gatehouse on a fresh store (SQLite in a temp dir, or a new PostgreSQL
// database with -postgres) with its first admin; done closes it and removes both.
func openState(ctx context.Context, prefix string) (a *app.App, done func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	storeURL, drop, err := freshStore(ctx)
	if err != nil {
		_ = os.RemoveAll(dir) // the store's error is the one to report
		return nil, nil, err
	}
	done = func() {
		if a != nil {
			a.Close()
		}
		drop()
		_ = os.RemoveAll(dir) // a temp dir: nothing to lose
	}
	a, err = app.Open(ctx, app.Options{DataDir: filepath.Join(dir, "data"), Store: storeURL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		done()
		return nil, nil, err
	}
	if _, err := a.CreateFirstAdmin(ctx, "admin", ""); err != nil {
		done()
		return nil, nil, err
	}
	return a, done, nil
}
