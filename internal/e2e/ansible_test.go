package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// ansibleEnv runs Debian's ansible against the jump environment's target (127.0.0.1, the sshd's
// port and user), in a HOME of its own, with /usr/bin/python3 on both ends.
type ansibleEnv struct {
	j      *jumpEnv
	home   string
	inv    string
	remote string // a directory on the target
	env    []string
	// scpWord is how a session's line names scp's server side: "scp " typed, "scp#" as The
	// Bastion's wrapper encodes it in --scp-cmd.
	scpWord string
}

func newAnsible(t *testing.T, j *jumpEnv, extraEnv ...string) *ansibleEnv {
	t.Helper()
	if _, err := exec.LookPath("ansible"); err != nil {
		testenv.Need(t, "ansible is not installed (scripts/test.sh installs Debian's ansible)")
	}
	home := filepath.Join(j.dir, "ansible-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(home, "hosts")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf("[targets]\n127.0.0.1 ansible_port=%d ansible_user=%s ansible_python_interpreter=/usr/bin/python3\n", j.sshd.Port, j.sshd.User)), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_REMOTE_TMP="+filepath.Join(remote, ".tmp"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, ".tmp"), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(home, "cp"))
	env = append(env, extraEnv...)
	return &ansibleEnv{j: j, home: home, inv: inv, remote: remote, env: env, scpWord: "scp "}
}

// run runs `ansible all -i INV -m MODULE -a ARGS` and fails the test unless it succeeds.
func (a *ansibleEnv) run(t *testing.T, module, args string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	argv := []string{"all", "-i", a.inv, "-m", module}
	if args != "" {
		argv = append(argv, "-a", args)
	}
	cmd := exec.CommandContext(ctx, "ansible", argv...)
	cmd.Env, cmd.Dir = a.env, a.home
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ansible -m %s -a %q: %v\n%s", module, args, err, out.String())
	}
	return out.String()
}

// playModules runs ping, copy, template and fetch through whatever the environment sets up, and
// checks each file arrived intact and the audit names it (the SFTP audit's SHA-256 of what was
// written or read, or the scp command line with the path).
func (a *ansibleEnv) playModules(t *testing.T, via string) {
	t.Helper()
	if out := a.run(t, "ping", ""); !strings.Contains(out, `"ping": "pong"`) {
		t.Fatalf("ping: %s", out)
	}
	// copy
	src := filepath.Join(a.home, "copy-src.bin")
	data := randomFile(t, src, 70*1024+5)
	dst := filepath.Join(a.remote, "copied.bin")
	a.run(t, "copy", fmt.Sprintf("src=%s dest=%s", src, dst))
	sameFile(t, dst, data)
	a.audited(t, via, "written", data)
	// template
	tpl := filepath.Join(a.home, "t.j2")
	if err := os.WriteFile(tpl, []byte("host={{ inventory_hostname }} via="+via+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tdst := filepath.Join(a.remote, "templated.txt")
	a.run(t, "template", fmt.Sprintf("src=%s dest=%s", tpl, tdst))
	rendered := []byte("host=127.0.0.1 via=" + via + "\n")
	sameFile(t, tdst, rendered)
	a.audited(t, via, "written", rendered)
	// fetch
	fsrc := filepath.Join(a.remote, "to-fetch.bin")
	fdata := randomFile(t, fsrc, 33*1024+1)
	fdst := filepath.Join(a.home, "fetched.bin")
	a.run(t, "fetch", fmt.Sprintf("src=%s dest=%s flat=yes", fsrc, fdst))
	sameFile(t, fdst, fdata)
	a.audited(t, via, "read", fdata)
	if via == "sftp" {
		waitAudit(t, a.j.b, "sftp.close", map[string]any{"path": fsrc, "account": "alice", "sha256_read": fmt.Sprintf("%x", sha256Sum(fdata))})
	}
}

// audited waits for the audit event that names a file ansible moved: an sftp.close with its
// hash (sftp), or a closed scp session (scp: the legacy protocol has no per-file hash yet).
func (a *ansibleEnv) audited(t *testing.T, via, dir string, data []byte) {
	t.Helper()
	switch via {
	case "sftp":
		waitAudit(t, a.j.b, "sftp.close", map[string]any{"account": "alice", "host_to": "127.0.0.1", "sha256_" + dir: fmt.Sprintf("%x", sha256Sum(data))})
	case "scp":
		flag := "-t"
		if dir == "read" {
			flag = "-f"
		}
		closedSession(t, a.j.b, "alice", a.scpWord+flag)
	}
}

// TestAnsibleThroughStanza: Debian's ansible (ping, copy, template, fetch) with nothing but the
// ssh_config stanza (ProxyJump through gatehouse), in its default transfer mode (sftp) and with
// scp (legacy mode, -O).
func TestAnsibleThroughStanza(t *testing.T) {
	j := startJump(t)
	args := "ANSIBLE_SSH_ARGS=-F " + j.cfg + " -o ControlMaster=auto -o ControlPersist=30s"
	a := newAnsible(t, j, args, "ANSIBLE_SSH_TRANSFER_METHOD=sftp")
	a.playModules(t, "sftp")
	a = newAnsible(t, j, args, "ANSIBLE_SSH_TRANSFER_METHOD=scp", "ANSIBLE_SCP_EXTRA_ARGS=-O")
	a.playModules(t, "scp")
}

// bastionShim writes, in dir, a shim of The Bastion's Ansible wrapper (ovh/the-bastion-ansible-
// wrapper): our own scripts, not its code, that issue the same command lines as its
// sshwrapper.py, scpwrapper.py (through scpbastion.sh, `scp -S`) and sftpwrapper.py (through
// sftpbastion.sh, `sftp -S`):
//
//	ssh:  ssh -p BPORT -q -o StrictHostKeyChecking=no -l BUSER BHOST -T ARGS… -- -q -T --never-escape --user RUSER --port RPORT HOST -- CMD
//	      (ARGS: ansible's, with User=… and Port=… replaced by the bastion's)
//	scp:  ssh BUSER@BHOST -p BPORT -o StrictHostKeyChecking=no -T ARGS… -- --user RUSER --port RPORT --host HOST --osh scp --scp-cmd ENC
//	      (ARGS: scp's to its -S program but -l/-p/-o User/-o Port; ENC: the command, '#' doubled, ' ' as '#')
//	sftp: ssh BUSER@BHOST -p BPORT -o StrictHostKeyChecking=no -T -- --user RUSER --port RPORT --host HOST --osh sftp
//
// BASTION_USER, BASTION_HOST and BASTION_PORT come from the environment, as the wrapper reads
// them. It returns the paths of the ssh, scp and sftp executables to give ansible.
func bastionShim(t *testing.T, dir string) (sshExe, scpExe, sftpExe string) {
	t.Helper()
	files := map[string]string{
		"sshwrapper": `#!/bin/bash
args=("$@"); n=${#args[@]}
cmd=${args[n-1]}; host=${args[n-2]}; args=("${args[@]:0:n-2}")
ruser=""; rport=22
for i in "${!args[@]}"; do
  case "${args[i]}" in
    User=*) ruser=${args[i]#User=}; args[i]="User=$BASTION_USER";;
    Port=*) rport=${args[i]#Port=}; args[i]="Port=$BASTION_PORT";;
  esac
done
exec ssh -p "$BASTION_PORT" -q -o StrictHostKeyChecking=no -l "$BASTION_USER" "$BASTION_HOST" -T "${args[@]}" -- -q -T --never-escape --user "$ruser" --port "$rport" "$host" -- "$cmd"
`,
		"scpwrapper": `#!/bin/bash
ruser=""; rport=22; line=()
while [ $# -gt 0 ]; do
  case "$1" in
    -l) ruser=$2; shift 2;;
    -p) rport=$2; shift 2;;
    -o) case "$2" in User=*) ruser=${2#User=}; shift 2;; Port=*) rport=${2#Port=}; shift 2;; *) line+=("$1"); shift;; esac;;
    --) shift; line+=("$@"); break;;
    *) line+=("$1"); shift;;
  esac
done
n=${#line[@]}
scpcmd=${line[n-1]}; host=${line[n-2]}; line=("${line[@]:0:n-2}")
scpcmd=${scpcmd//#/##}; scpcmd=${scpcmd// /#}
exec ssh "$BASTION_USER@$BASTION_HOST" -p "$BASTION_PORT" -o StrictHostKeyChecking=no -T "${line[@]}" -- --user "$ruser" --port "$rport" --host "$host" --osh scp --scp-cmd "$scpcmd"
`,
		"sftpwrapper": `#!/bin/bash
ruser=""; rport=22; args=("$@")
for ((i=0; i<${#args[@]}; i++)); do
  if [ "${args[i]}" = -o ]; then
    case "${args[i+1]}" in User=*) ruser=${args[i+1]#User=};; Port=*) rport=${args[i+1]#Port=};; esac
  fi
done
n=${#args[@]}
host=${args[n-2]}
exec ssh "$BASTION_USER@$BASTION_HOST" -p "$BASTION_PORT" -o StrictHostKeyChecking=no -T -- --user "$ruser" --port "$rport" --host "$host" --osh sftp
`,
		"scpbastion.sh":  "#!/bin/sh\nexec scp -S \"$(dirname \"$0\")/scpwrapper\" \"$@\"\n",
		"sftpbastion.sh": "#!/bin/sh\nexec sftp -S \"$(dirname \"$0\")/sftpwrapper\" \"$@\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "sshwrapper"), filepath.Join(dir, "scpbastion.sh"), filepath.Join(dir, "sftpbastion.sh")
}

// shimPath puts, first in PATH, an `ssh` that is the real one with the test's ssh_config (-F):
// the wrapper's command lines stay exactly as it builds them, while the key and known_hosts
// come from the test (OpenSSH reads the passwd entry's home, not $HOME).
func shimPath(t *testing.T, j *jumpEnv, dir string) string {
	t.Helper()
	real, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bastion_ssh_config")
	body := fmt.Sprintf("Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n",
		j.aliceKey, filepath.Join(dir, "known_hosts"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(fmt.Sprintf("#!/bin/sh\nexec %s -F %s \"$@\"\n", real, cfg)), 0o700); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + ":" + os.Getenv("PATH")
}

// TestAnsibleThroughBastionWrapper: Debian's ansible through The Bastion's Ansible wrapper's
// command lines (a shim of ours issuing them): ssh with --never-escape --user --port HOST -- CMD,
// files by scp (`--osh scp --scp-cmd`, both scp modes) and by sftp (`--osh sftp`); each file
// arrives intact and the audit names it. The README's settings: pipelining, scp_if_ssh.
func TestAnsibleThroughBastionWrapper(t *testing.T) {
	j := startJump(t)
	shim := filepath.Join(j.dir, "shim")
	if err := os.MkdirAll(shim, 0o700); err != nil {
		t.Fatal(err)
	}
	sshExe, scpExe, sftpExe := bastionShim(t, shim)
	common := []string{shimPath(t, j, shim), "BASTION_USER=alice", "BASTION_HOST=" + j.b.Host, "BASTION_PORT=" + j.b.Port,
		"ANSIBLE_PIPELINING=1", "ANSIBLE_SSH_EXECUTABLE=" + sshExe, "ANSIBLE_SCP_EXECUTABLE=" + scpExe, "ANSIBLE_SFTP_EXECUTABLE=" + sftpExe}
	t.Run("scp", func(t *testing.T) {
		// scp in its default (SFTP) mode through -S: the wrapper's line arrives as a subsystem name.
		a := newAnsible(t, j, append(common, "ANSIBLE_SCP_IF_SSH=True")...)
		a.playModules(t, "sftp")
	})
	t.Run("scp-legacy", func(t *testing.T) {
		a := newAnsible(t, j, append(common, "ANSIBLE_SCP_IF_SSH=True", "ANSIBLE_SCP_EXTRA_ARGS=-O")...)
		a.scpWord = "scp#"
		a.playModules(t, "scp")
	})
	t.Run("sftp", func(t *testing.T) {
		a := newAnsible(t, j, append(common, "ANSIBLE_SSH_TRANSFER_METHOD=sftp")...)
		a.playModules(t, "sftp")
	})
	// The plain ssh form is what ping ran above; its line names the target and the module's shell.
	closedSession(t, j.b, "alice", "--never-escape")
}
