package lockstep_test

import (
	"go/ast"
	"go/build"
	"go/doc"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// docLinkish is text that the doc comment parser would take for a doc link,
// [Name], [pkg.Name] or [pkg.Recv.Name], if it resolved.
var docLinkish = regexp.MustCompile(`\[\*?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*\]`)

// Every doc link in the module's documentation resolves: [mutex.Mutex] in a
// file that does not import package mutex, or a misspelt [Wiat], renders as
// plain bracketed text on pkg.go.dev and in go doc. (The guide in doc.go
// names every package; its links are defined at the end of its comment.)
func TestDocLinksResolve(t *testing.T) {
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch d.Name() {
		case "testdata", "bench", "dist":
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), ".") && dir != "." {
			return filepath.SkipDir
		}
		bp, err := build.ImportDir(dir, 0) // the files this platform builds
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		} else if err != nil {
			return err
		}
		fset := token.NewFileSet()
		var files []*ast.File
		for _, name := range bp.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		dp, err := doc.NewFromFiles(fset, files, "github.com/lockstep-go/lockstep/"+dir)
		if err != nil {
			return err
		}
		for where, text := range docComments(dp) {
			for _, s := range unresolved(dp.Parser().Parse(text)) {
				t.Errorf("%s: %s: %s does not resolve", dir, where, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// docComments yields every doc comment of the package's exported API.
func docComments(dp *doc.Package) func(yield func(where, text string) bool) {
	return func(yield func(string, string) bool) {
		if !yield("package doc", dp.Doc) {
			return
		}
		for _, v := range append(dp.Consts, dp.Vars...) {
			if !yield(strings.Join(v.Names, ", "), v.Doc) {
				return
			}
		}
		for _, f := range dp.Funcs {
			if !yield(f.Name, f.Doc) {
				return
			}
		}
		for _, ty := range dp.Types {
			if !yield(ty.Name, ty.Doc) {
				return
			}
			for _, v := range append(ty.Consts, ty.Vars...) {
				if !yield(strings.Join(v.Names, ", "), v.Doc) {
					return
				}
			}
			for _, f := range append(ty.Funcs, ty.Methods...) {
				if !yield(ty.Name+"."+f.Name, f.Doc) {
					return
				}
			}
		}
	}
}

// unresolved returns the doc-link-shaped text left as plain text in d: a
// bracketed name with a space, punctuation or nothing on either side, as
// the parser requires of a link (so Future[T] is not one).
func unresolved(d *comment.Doc) []string {
	var out []string
	var texts func([]comment.Text)
	texts = func(ts []comment.Text) {
		for _, t := range ts {
			switch t := t.(type) {
			case comment.Plain:
				s := string(t)
				for _, m := range docLinkish.FindAllStringIndex(s, -1) {
					if linkBoundary(s[:m[0]], false) && linkBoundary(s[m[1]:], true) {
						out = append(out, s[m[0]:m[1]])
					}
				}
			case *comment.Link:
				texts(t.Text)
			}
		}
	}
	for _, b := range d.Content {
		switch b := b.(type) {
		case *comment.Paragraph:
			texts(b.Text)
		case *comment.Heading:
			texts(b.Text)
		case *comment.List:
			for _, item := range b.Items {
				for _, c := range item.Content {
					if p, ok := c.(*comment.Paragraph); ok {
						texts(p.Text)
					}
				}
			}
		}
	}
	return out
}

// linkBoundary reports whether the text beside a bracketed name (after it
// when after is set, else before it) lets the parser take it for a link.
func linkBoundary(s string, after bool) bool {
	if s == "" {
		return true
	}
	var r rune
	if after {
		r, _ = utf8.DecodeRuneInString(s)
	} else {
		r, _ = utf8.DecodeLastRuneInString(s)
	}
	return unicode.IsPunct(r) || unicode.IsSpace(r)
}
