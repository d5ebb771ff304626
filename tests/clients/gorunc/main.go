// gorunc drives nook through containerd's go-runc library, the way
// containerd's runc shim does, and prints one "ok NAME" or "not ok NAME - why"
// line per check. It exits non-zero when a check failed.
//
//	gorunc -nook PATH -root DIR -bundle DIR -id ID
//
// The bundle's process must keep running (e.g. sleep) until it is killed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var failed int

// shimMonitor waits for a command only when go-runc asks, as containerd's
// shim does with its reaper. go-runc's default monitor calls cmd.Wait as soon
// as the command exits, which closes its stdout pipe and races with Stats
// still decoding the output of a fast `events --stats`.
type shimMonitor struct{}

func (shimMonitor) Start(c *exec.Cmd) (chan runc.Exit, error) {
	if err := c.Start(); err != nil {
		return nil, err
	}
	return make(chan runc.Exit, 1), nil
}

func (shimMonitor) Wait(c *exec.Cmd, _ chan runc.Exit) (int, error) {
	err := c.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok {
			return ws.ExitStatus(), nil
		}
	}
	if err != nil {
		return 255, err
	}
	return 0, nil
}

func check(name string, err error) bool {
	if err != nil {
		failed++
		fmt.Printf("not ok %s - %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		return false
	}
	fmt.Printf("ok %s\n", name)
	return true
}

func wantStatus(ctx context.Context, r *runc.Runc, id, want string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := r.State(ctx, id)
		if err != nil {
			return err
		}
		if c.Status == want {
			if c.ID != id {
				return fmt.Errorf("state id %q, want %q", c.ID, id)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("status %q, want %q", c.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pipeIO gives the command pipes and drains them, as containerd does; it
// returns a function that waits for stdout to close and returns it.
func pipeIO() (runc.IO, func() string, error) {
	pio, err := runc.NewPipeIO(os.Getuid(), os.Getgid())
	if err != nil {
		return nil, nil, err
	}
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pio.Stdout())
		out <- string(b)
	}()
	go io.Copy(io.Discard, pio.Stderr())
	return pio, func() string {
		select {
		case s := <-out:
			return s
		case <-time.After(5 * time.Second):
			return "(stdout still open after 5s)"
		}
	}, nil
}

// pidsMaxIs reads pids.max of the cgroup of pid, as the host sees it.
func pidsMaxIs(pid int, want string) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "0::") {
			v, err := os.ReadFile("/sys/fs/cgroup" + strings.TrimPrefix(line, "0::") + "/pids.max")
			if err != nil {
				return err
			}
			if got := strings.TrimSpace(string(v)); got != want {
				return fmt.Errorf("pids.max is %s, want %s", got, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no cgroup v2 line in /proc/%d/cgroup", pid)
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

func main() {
	nook := flag.String("nook", "nook", "path of the nook binary")
	root := flag.String("root", "", "state root (--root)")
	bundle := flag.String("bundle", "", "bundle directory")
	id := flag.String("id", "gorunc", "container id")
	skipUpdate := flag.String("skip-update", "", "why update cannot be checked here (checked when empty)")
	flag.Parse()
	runc.Monitor = shimMonitor{}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "gorunc")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	r := &runc.Runc{
		Command:   *nook,
		Root:      *root,
		Log:       filepath.Join(tmp, "log.json"),
		LogFormat: runc.JSON,
	}

	v, err := r.Version(ctx)
	check("version", err)
	fmt.Printf("# version parsed by go-runc: %+v\n", v)

	pidFile := filepath.Join(tmp, "init.pid")
	cio, _, err := pipeIO()
	if !check("pipe io", err) {
		os.Exit(1)
	}
	err = r.Create(ctx, *id, *bundle, &runc.CreateOpts{IO: cio, PidFile: pidFile})
	if !check("create", err) {
		os.Exit(1)
	}
	defer r.Delete(context.Background(), *id, &runc.DeleteOpts{Force: true})
	check("state created", wantStatus(ctx, r, *id, "created"))

	c, err := r.State(ctx, *id)
	if check("state", err) {
		b, ferr := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		switch {
		case ferr != nil:
			check("pid file", ferr)
		case pid != c.Pid || pid <= 0:
			check("pid file", fmt.Errorf("pid file says %d, state says %d", pid, c.Pid))
		default:
			check("pid file", nil)
		}
		abs, _ := filepath.Abs(*bundle)
		if c.Bundle != abs {
			check("state bundle", fmt.Errorf("bundle %q, want %q", c.Bundle, abs))
		} else {
			check("state bundle", nil)
		}
	}

	check("start", r.Start(ctx, *id))
	check("state running", wantStatus(ctx, r, *id, "running"))

	list, err := r.List(ctx)
	if check("list", err) {
		found := false
		for _, l := range list {
			if l.ID == *id && l.Status == "running" {
				found = true
			}
		}
		if !found {
			check("list shows the container running", fmt.Errorf("not in %+v", list))
		} else {
			check("list shows the container running", nil)
		}
	}

	// A foreground exec with its output through pipes.
	eio, output, err := pipeIO()
	if check("exec pipe io", err) {
		proc := specs.Process{
			Args: []string{"sh", "-c", "echo hello-$GREETING from $(pwd)"},
			Env:  []string{"PATH=/bin:/usr/bin", "GREETING=gorunc"},
			Cwd:  "/tmp",
			User: specs.User{UID: 0, GID: 0},
		}
		err = r.Exec(ctx, *id, proc, &runc.ExecOpts{IO: eio})
		if check("exec", err) {
			got := strings.TrimSpace(output())
			if got != "hello-gorunc from /tmp" {
				check("exec output", fmt.Errorf("got %q", got))
			} else {
				check("exec output", nil)
			}
		}
	}

	// The process's exit status comes back as an ExitError.
	xio, _, _ := pipeIO()
	err = r.Exec(ctx, *id, specs.Process{Args: []string{"sh", "-c", "exit 3"}, Cwd: "/",
		Env: []string{"PATH=/bin"}}, &runc.ExecOpts{IO: xio})
	var exitErr *runc.ExitError
	if errors.As(err, &exitErr) && exitErr.Status == 3 {
		check("exec exit status", nil)
	} else {
		check("exec exit status", fmt.Errorf("want exit status 3, got %v", err))
	}

	// A detached exec, as the shim runs `exec` for ctr/crictl.
	execPidFile := filepath.Join(tmp, "exec.pid")
	dio, _, _ := pipeIO()
	err = r.Exec(ctx, *id, specs.Process{Args: []string{"sleep", "1000"}, Cwd: "/",
		Env: []string{"PATH=/bin"}}, &runc.ExecOpts{IO: dio, Detach: true, PidFile: execPidFile})
	execPid := 0
	if check("exec detached", err) {
		b, err := os.ReadFile(execPidFile)
		execPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && execPid <= 0 {
			err = fmt.Errorf("pid file holds %q", b)
		}
		check("exec pid file", err)
	}

	pids, err := r.Ps(ctx, *id)
	if check("ps", err) {
		switch {
		case c == nil || !contains(pids, c.Pid):
			check("ps lists init", fmt.Errorf("pids %v", pids))
		default:
			check("ps lists init", nil)
		}
		if execPid > 0 && !contains(pids, execPid) {
			check("ps lists the exec'd process", fmt.Errorf("pid %d not in %v", execPid, pids))
		} else if execPid > 0 {
			check("ps lists the exec'd process", nil)
		}
	}

	st, err := r.Stats(ctx, *id)
	if check("stats", err) {
		if st == nil {
			check("stats data", errors.New("no data"))
		} else {
			fmt.Printf("# stats: pids %+v memory.usage %+v cpu.usage.total %d\n", st.Pids,
				st.Memory.Usage, st.Cpu.Usage.Total)
			check("stats data", nil)
		}
	}

	ectx, ecancel := context.WithCancel(ctx)
	events, err := r.Events(ectx, *id, time.Second)
	if check("events", err) {
		select {
		case e, ok := <-events:
			switch {
			case !ok:
				check("events stream", errors.New("closed before any event"))
			case e.Type == "error":
				check("events stream", fmt.Errorf("decode: %v", e.Err))
			case e.Type != "stats" || e.ID != *id || e.Stats == nil:
				check("events stream", fmt.Errorf("event %+v", e))
			default:
				check("events stream", nil)
			}
		case <-time.After(10 * time.Second):
			check("events stream", errors.New("no event in 10s"))
		}
	}
	ecancel()

	if *skipUpdate != "" {
		fmt.Printf("ok update # SKIP %s\n", *skipUpdate)
	} else {
		limit := int64(200)
		if check("update", r.Update(ctx, *id, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: limit}})) && c != nil {
			// systemd applies a unit's new property a moment later
			err := pidsMaxIs(c.Pid, "200")
			for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				err = pidsMaxIs(c.Pid, "200")
			}
			check("update reaches pids.max", err)
		}
	}

	if check("pause", r.Pause(ctx, *id)) {
		check("state paused", wantStatus(ctx, r, *id, "paused"))
		check("resume", r.Resume(ctx, *id))
		check("state running again", wantStatus(ctx, r, *id, "running"))
	}

	check("kill", r.Kill(ctx, *id, int(syscall.SIGKILL), &runc.KillOpts{All: true}))
	check("state stopped", wantStatus(ctx, r, *id, "stopped"))
	check("delete", r.Delete(ctx, *id, &runc.DeleteOpts{}))
	_, err = r.State(ctx, *id)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		check("state after delete", fmt.Errorf("want a \"does not exist\" error, got %v", err))
	} else {
		check("state after delete", nil)
	}

	if failed > 0 {
		fmt.Printf("# %d checks failed\n", failed)
		os.Exit(1)
	}
}
