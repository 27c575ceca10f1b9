// Command conformance is the project's CLI: it predicts, lists, converts, inspects and compares
// without a cluster, and checks one where it has one. Each subcommand lives in its own file and
// registers itself here.
//
// Every command answers the same way: bad input (no or unknown command, unknown flag, bad value,
// missing file, stray argument) is exactly one line on stderr and exit 2, with nothing on stdout;
// help (help, -h, --help) goes to stdout with exit 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: run gets its arguments (without the subcommand's name) and returns
// the process exit code. Usage errors return 2 after one line on stderr.
type command struct {
	usage   string // the synopsis after "conformance ", e.g. "scenarios [-o table|json]"
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds a command; usage starts with its name.
func register(name, usage, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := commands[name]; dup {
		panic("conformance: duplicate command " + name)
	}
	if usage != name && !strings.HasPrefix(usage, name+" ") {
		panic("conformance: usage of " + name + " must start with its name: " + usage)
	}
	commands[name] = command{usage: usage, summary: summary, run: run}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "conformance: no command given (run 'conformance help' for the list)")
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		switch {
		case len(args) == 1:
			usage(stdout)
			return 0
		case args[0] != "help":
			fmt.Fprintf(stderr, "conformance: unexpected argument %q after %s\n", args[1], args[0])
			return 2
		case len(args) > 2:
			fmt.Fprintf(stderr, "conformance help: unexpected argument %q (one COMMAND at most)\n", args[2])
			return 2
		}
		if _, ok := commands[args[1]]; !ok {
			fmt.Fprintf(stderr, "conformance help: unknown command %q (run 'conformance help' for the list)\n", args[1])
			return 2
		}
		// `help CMD` is `CMD -h`: each command knows its own flags.
		return commands[args[1]].run([]string{"-h"}, stdout, stderr)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "conformance: unknown command %q (run 'conformance help' for the list)\n", args[0])
		return 2
	}
	return cmd.run(args[1:], stdout, stderr)
}

// usage is `conformance help`: one usage line per command, its summary under it.
func usage(w io.Writer) {
	fmt.Fprintln(w, "conformance: predict, list, convert, inspect and compare Istio mTLS behaviour; check a cluster before a run.")
	fmt.Fprintln(w, "\nusage:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  conformance %s\n      %s\n", commands[n].usage, commands[n].summary)
	}
	fmt.Fprintln(w, "\n'conformance help COMMAND' or 'conformance COMMAND -h' shows a command's flags.")
	fmt.Fprintln(w, "Bad input is one line on stderr and exit status 2; other failures exit 1.")
}

// commandHelp is `conformance CMD -h`: the usage line, the summary and the flags, on stdout.
// name is the FlagSet's name, whose first word is the command ("cluster delete").
func commandHelp(fs *flag.FlagSet, stdout io.Writer) {
	name, _, _ := strings.Cut(fs.Name(), " ")
	cmd := commands[name]
	fmt.Fprintf(stdout, "usage: conformance %s\n\n%s\n", cmd.usage, cmd.summary)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(stdout, "\nflags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// isHelp reports whether args asks for help before anything else (for commands that parse
// their own leading word, like `cluster delete`).
func isHelp(args []string) bool {
	return len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}

// stringList is a repeatable string flag (-f a -f b).
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint([]string(*s)) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// commandFailure is how the command called name (the FlagSet's name, "cluster delete") reports
// a failure: one line "conformance NAME: ..." on stderr, and the exit code it is given (2 for
// bad input, 1 for other failures; see the package comment).
func commandFailure(stderr io.Writer, name string) func(code int, format string, a ...any) int {
	return func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "conformance %s: %s\n", name, fmt.Sprintf(format, a...))
		return code
	}
}

// newCommand is a command's flag set and its failure reporter under one name: parseFlags and
// commandHelp name the command by fs.Name(), so the two must not disagree.
func newCommand(name string, stderr io.Writer) (*flag.FlagSet, func(code int, format string, a ...any) int) {
	return flag.NewFlagSet(name, flag.ContinueOnError), commandFailure(stderr, name)
}

// parseFlags parses quietly and reports a bad flag as one line, the way every subcommand
// reports bad input; -h prints the command's help on stdout. A positional argument is an error.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (ok bool, code int) {
	if ok, code := parseFlagsAllowArgs(fs, args, stdout, stderr); !ok {
		return false, code
	}
	if fs.NArg() > 0 {
		return false, commandFailure(stderr, fs.Name())(2, "unexpected argument %q", fs.Arg(0))
	}
	return true, 0
}

// parseFlagsAllowArgs is parseFlags for a command that takes positional arguments.
func parseFlagsAllowArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (bool, int) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandHelp(fs, stdout)
			return false, 0
		}
		return false, commandFailure(stderr, fs.Name())(2, "%v", err)
	}
	return true, 0
}
