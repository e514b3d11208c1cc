package webhookserver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The seed documents (internal/timfake/testdata/seeds, the one copy of the
// callback goldens and their sources, shared with the fake) are the
// callback pages the project started from; tests post their samples as
// documented, so a drift between the docs and the decoder fails a test.

// goldenDir holds the callback goldens the fake's tests check it sends.
var goldenDir = filepath.Join("..", "internal", "timfake", "testdata")

// seedSample extracts the request sample of a seed document, with its //
// comments stripped, and the documented query string.
func seedSample(command string) (body []byte, query string, err error) {
	raw, err := os.ReadFile(filepath.Join(goldenDir, "seeds", command+".txt"))
	if err != nil {
		return nil, "", err
	}
	text := string(raw)
	at := strings.Index(text, `"CallbackCommand": "`+command+`"`)
	if at < 0 {
		at = strings.Index(text, `"CallbackCommand":"`+command+`"`)
	}
	if at < 0 {
		return nil, "", fmt.Errorf("%s: no request sample", command)
	}
	start := strings.LastIndex(text[:at], "{")
	end := matchBrace(text, start)
	if start < 0 || end < 0 {
		return nil, "", fmt.Errorf("%s: unbalanced sample", command)
	}
	body = []byte(stripComments(text[start : end+1]))
	if !json.Valid(body) {
		return nil, "", fmt.Errorf("%s: sample is not JSON after stripping comments: %s", command, body)
	}
	m := regexp.MustCompile(`https://www\.example\.com\?(\S+)`).FindStringSubmatch(text)
	if m == nil {
		return nil, "", fmt.Errorf("%s: no sample URL", command)
	}
	return body, strings.TrimRight(m[1], "`"), nil
}

// matchBrace returns the index of the '}' closing the '{' at start.
func matchBrace(s string, start int) int {
	depth, inStr := 0, false
	for i := start; i >= 0 && i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && c == '{':
			depth++
		case !inStr && c == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// stripComments removes // comments outside JSON strings.
func stripComments(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		} else if c == '/' && i+1 < len(s) && s[i+1] == '/' {
			for i < len(s) && s[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// seedCommands are the commands with a seed document.
var seedCommands = []string{CmdAfterCreateGroup, CmdAfterGroupInfoChanged, CmdAfterGroupAttrChanged, CmdAfterSendMsg}

// allCommands are the recorded commands; goldenDir/callbacks holds a body
// for each.
var allCommands = []string{
	CmdAfterCreateGroup, CmdAfterGroupInfoChanged, CmdAfterGroupAttrChanged, CmdAfterSendMsg,
	CmdAfterNewMemberJoin, CmdAfterMemberExit, CmdAfterChangeGroupOwner, CmdAfterGroupDestroyed,
}

func goldenBody(command string) ([]byte, error) {
	return os.ReadFile(filepath.Join(goldenDir, "callbacks", command+".json"))
}
