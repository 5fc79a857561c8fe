package report

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// README markers between which UpdateReadme puts the latest results.
const (
	ReadmeBegin = "<!-- spoolbench:results:begin -->"
	ReadmeEnd   = "<!-- spoolbench:results:end -->"
)

// ReadmeSection adapts the markdown of results.md for embedding in a README
// one directory up: headings one level deeper, the title dropped, chart
// paths prefixed with dir, and the notes left to the README's own text.
func ReadmeSection(md []byte, dir string) []byte {
	var out bytes.Buffer
	skipping := false
	for line := range strings.Lines(string(md)) {
		switch {
		case strings.HasPrefix(line, "# "):
			continue
		case strings.HasPrefix(line, "## Notes"):
			skipping = true
			continue
		case strings.HasPrefix(line, "## "):
			skipping = false
		}
		if skipping {
			continue
		}
		if strings.HasPrefix(line, "#") {
			line = "#" + line
		}
		if strings.HasPrefix(line, "![") {
			if i := strings.Index(line, "]("); i >= 0 {
				line = line[:i+2] + dir + "/" + line[i+2:]
			}
		}
		out.WriteString(line)
	}
	return bytes.TrimSpace(out.Bytes())
}

// UpdateReadme replaces what lies between ReadmeBegin and ReadmeEnd in the
// file at path with section.
func UpdateReadme(path string, section []byte) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(b, []byte(ReadmeBegin))
	j := bytes.Index(b, []byte(ReadmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s markers", path, ReadmeBegin, ReadmeEnd)
	}
	var out bytes.Buffer
	out.Write(b[:i+len(ReadmeBegin)])
	out.WriteString("\n\n")
	out.Write(section)
	out.WriteString("\n\n")
	out.Write(b[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
