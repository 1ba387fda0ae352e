package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// MaxCommandOutput is the most of a command's combined output kept in its
// run's result; the rest is counted and dropped.
const MaxCommandOutput = 64 << 10

// How long a command's output pipes may stay open after it exited (a
// background child holding them) or was killed.
const commandWaitDelay = 5 * time.Second

// defaultPath is a command's PATH when hookd's own is empty.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// command runs the action's program (or /bin/sh -c script) once. Its
// environment is PATH and HOME (hookd's values) plus the action's Env,
// never hookd's own environment, which holds secrets such as
// HOOKD_MASTER_KEY. It runs in a process group of its own, which is
// killed at the timeout. Exit status 0 succeeds; anything else fails
// without a retry.
func (r *Runner) command(ctx context.Context, run *hookd.Run) outcome {
	if !r.cfg.AllowCommands {
		return failed("Command actions are disabled on this server; the operator must start hookd with command actions allowed.")
	}
	a := run.Action
	argv := a.Command
	if a.Shell {
		argv = []string{"/bin/sh", "-c", a.Command[0]}
	}
	timeout := DefaultTimeout
	if a.Timeout > 0 {
		timeout = time.Duration(a.Timeout)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv(a.Env)
	cmd.Dir = a.Dir
	if a.Stdin != "" {
		cmd.Stdin = strings.NewReader(a.Stdin)
	}
	out := &capture{max: MaxCommandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = commandWaitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	res := &hookd.RunResult{Output: out.String()}
	o := outcome{res: res}
	var exit *exec.ExitError
	switch {
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		res.Error = fmt.Sprintf("Timeout: still running after %s; the process group was killed.", timeout)
	case ctx.Err() != nil:
		res.Error = "Cancelled: hookd is stopping; the process group was killed."
	case cmd.ProcessState != nil && cmd.ProcessState.Exited():
		// Exited, possibly with ErrWaitDelay: a background child kept the
		// output open. The exit status is what counts.
		code := cmd.ProcessState.ExitCode()
		res.ExitCode = &code
		if code == 0 {
			o.ok = true
		} else {
			res.Error = fmt.Sprintf("Exit status %d.", code)
		}
	case errors.As(err, &exit):
		res.Error = fmt.Sprintf("Terminated: %s.", exit.ProcessState.String())
	case err != nil:
		res.Error = "Could not start: " + err.Error()
	}
	return o
}

// commandEnv is the environment of a command: PATH and HOME, then env.
func commandEnv(env map[string]string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/"
	}
	vars := map[string]string{"PATH": path, "HOME": home}
	for k, v := range env {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// capture keeps the first max bytes written to it and counts the rest.
// exec calls Write from one goroutine at a time when stdout and stderr
// are the same writer.
type capture struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (c *capture) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	take := min(max(room, 0), len(p))
	c.buf.Write(p[:take])
	c.dropped += int64(len(p) - take)
	return len(p), nil
}

// String returns the output kept, marked when some was dropped.
func (c *capture) String() string {
	s := text(c.buf.Bytes())
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[output truncated: %d more bytes]", c.dropped)
	}
	return s
}
