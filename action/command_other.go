//go:build !unix

package action

import "os/exec"

// ownProcessGroup does nothing here: cancelling cmd kills only its process.
func ownProcessGroup(*exec.Cmd) {}
