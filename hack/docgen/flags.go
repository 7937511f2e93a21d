package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// modulePath is the root module's path: imports under it are read from the
// repository, others located with `go list`.
const modulePath = "github.com/cascadelab/cascadelab"

// Flag is one flag defined with the flag package.
type Flag struct {
	Name, Default, Usage string
}

// flagFuncs are the flag package's definers, and whether the name is their
// second argument (the *Var forms take the destination first).
var flagFuncs = map[string]bool{
	"String": false, "Bool": false, "Int": false, "Int64": false, "Uint": false, "Uint64": false, "Float64": false, "Duration": false, "Func": false, "BoolFunc": false,
	"StringVar": true, "BoolVar": true, "IntVar": true, "Int64Var": true, "UintVar": true, "Uint64Var": true, "Float64Var": true, "DurationVar": true, "TextVar": true,
}

// fileFlags parses a Go file and returns the flags it defines, in order, and
// the name of the flag.NewFlagSet it creates ("" for the global flag set).
func fileFlags(path string) ([]Flag, string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, "", err
	}
	ev := &evaluator{fset: fset, file: f}
	var flags []Flag
	var set string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if sel.Sel.Name == "NewFlagSet" && len(call.Args) > 0 {
			set, _ = ev.str(call.Args[0])
			return true
		}
		isVar, ok := flagFuncs[sel.Sel.Name]
		if !ok {
			return true
		}
		args := call.Args
		if len(args) < 2 {
			return true
		}
		if isVar {
			if len(args) < 4 {
				return true
			}
			args = args[1:]
		}
		name, ok := ev.str(args[0])
		if !ok || len(args) < 2 {
			return true
		}
		fl := Flag{Name: name}
		switch sel.Sel.Name {
		case "Func", "BoolFunc":
			fl.Usage, _ = ev.str(args[1])
		default:
			if len(args) < 3 {
				return true
			}
			fl.Default = ev.value(args[1])
			if strings.HasPrefix(sel.Sel.Name, "Duration") && fl.Default == "0" {
				fl.Default = "0s"
			}
			fl.Usage, _ = ev.str(args[2])
		}
		flags = append(flags, fl)
		return true
	})
	return flags, set, nil
}

// evaluator turns the constant expressions flags are defined with into text.
type evaluator struct {
	fset *token.FileSet
	file *ast.File
}

// str is a string literal or a concatenation of them.
func (e *evaluator) str(x ast.Expr) (string, bool) {
	switch x := x.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, err := strconv.Unquote(x.Value)
			return s, err == nil
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			a, ok1 := e.str(x.X)
			b, ok2 := e.str(x.Y)
			return a + b, ok1 && ok2
		}
	}
	return "", false
}

// value is a default value as the flag package would print it, or "" when it
// is not a constant (the usage text then says what it is).
func (e *evaluator) value(x ast.Expr) string {
	if s, ok := e.str(x); ok {
		return strconv.Quote(s)
	}
	switch v := e.eval(x).(type) {
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return v.String()
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// eval evaluates literals, true/false, products with time units and
// constants of other packages; nil when it cannot.
func (e *evaluator) eval(x ast.Expr) any {
	switch x := x.(type) {
	case *ast.BasicLit:
		switch x.Kind {
		case token.INT:
			n, _ := strconv.ParseInt(x.Value, 0, 64)
			return n
		case token.FLOAT:
			f, _ := strconv.ParseFloat(x.Value, 64)
			return f
		case token.STRING:
			s, _ := strconv.Unquote(x.Value)
			return s
		}
	case *ast.Ident:
		switch x.Name {
		case "true":
			return true
		case "false":
			return false
		}
		return constIn(e.fset, e.file, "", x.Name)
	case *ast.ParenExpr:
		return e.eval(x.X)
	case *ast.BinaryExpr:
		a, b := e.eval(x.X), e.eval(x.Y)
		if x.Op == token.MUL {
			switch {
			case isInt(a) && isDur(b):
				return time.Duration(a.(int64)) * b.(time.Duration)
			case isDur(a) && isInt(b):
				return a.(time.Duration) * time.Duration(b.(int64))
			case isInt(a) && isInt(b):
				return a.(int64) * b.(int64)
			}
		}
	case *ast.SelectorExpr:
		pkg, ok := x.X.(*ast.Ident)
		if !ok {
			return nil
		}
		if pkg.Name == "time" {
			units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond,
				"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
			if u, ok := units[x.Sel.Name]; ok {
				return u
			}
			return nil
		}
		return constIn(e.fset, e.file, pkg.Name, x.Sel.Name)
	}
	return nil
}

func isInt(v any) bool { _, ok := v.(int64); return ok }
func isDur(v any) bool { _, ok := v.(time.Duration); return ok }

// constIn finds the constant name in the package the file imports as pkg
// ("" for the file's own package) and evaluates it.
func constIn(fset *token.FileSet, file *ast.File, pkg, name string) any {
	dir := ""
	if pkg == "" {
		dir = filepath.Dir(fset.Position(file.Pos()).Filename)
	} else {
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			local := filepath.Base(path)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			if local != pkg {
				continue
			}
			if rel, ok := strings.CutPrefix(path, modulePath+"/"); ok {
				dir = rel
			} else if out, err := exec.Command("go", "list", "-find", "-f", "{{.Dir}}", path).Output(); err == nil {
				dir = strings.TrimSpace(string(out))
			}
		}
	}
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, en := range entries {
		n := en.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		pfset := token.NewFileSet()
		f, err := parser.ParseFile(pfset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			continue
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			// A package-level var with a literal value (controller-runtime's
			// webhook.DefaultPort) reads the same as a constant here.
			if !ok || (gd.Tok != token.CONST && gd.Tok != token.VAR) {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if id.Name == name && i < len(vs.Values) {
						return (&evaluator{fset: pfset, file: f}).eval(vs.Values[i])
					}
				}
			}
		}
	}
	return nil
}

// flagTable writes flags as a Markdown table.
func flagTable(p func(string, ...any), flags []Flag) {
	p("| flag | default | description |\n|---|---|---|\n")
	for _, f := range flags {
		def := ""
		if f.Default != "" && f.Default != `""` {
			def = "`" + strings.ReplaceAll(f.Default, "|", `\|`) + "`"
		}
		p("| `--%s` | %s | %s |\n", f.Name, def, oneLine(f.Usage))
	}
	p("\n")
}

// constString is the string constant name declared in the Go file path.
func constString(path, name string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return "", err
	}
	if v, ok := constIn(fset, f, "", name).(string); ok {
		return v, nil
	}
	return "", fmt.Errorf("%s: no string constant %s", path, name)
}
