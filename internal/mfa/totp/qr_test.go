package totp

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// parseHalfBlocks reads a QRHalfBlocks drawing back into a module grid (quiet zone included).
func parseHalfBlocks(t *testing.T, s string) [][]bool {
	t.Helper()
	var grid [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !strings.HasPrefix(line, ansiBlackOnWhite) || !strings.HasSuffix(line, ansiReset) {
			t.Fatalf("line not wrapped in colour escapes: %q", line)
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, ansiBlackOnWhite), ansiReset)
		var top, bottom []bool
		for _, r := range line {
			switch r {
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("unexpected rune %q", r)
			}
		}
		grid = append(grid, top, bottom)
	}
	return grid
}

func parseASCII(t *testing.T, s string) [][]bool {
	t.Helper()
	var grid [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if len(line)%2 != 0 {
			t.Fatalf("odd line length %d", len(line))
		}
		var row []bool
		for i := 0; i < len(line); i += 2 {
			switch line[i : i+2] {
			case "##":
				row = append(row, true)
			case "  ":
				row = append(row, false)
			default:
				t.Fatalf("unexpected cell %q", line[i:i+2])
			}
		}
		grid = append(grid, row)
	}
	return grid
}

// checkFinder asserts the 7×7 finder pattern (dark ring, light ring, 3×3 dark core) at (x0,y0)
// and its light separator, which is what a scanner looks for first.
func checkFinder(t *testing.T, g [][]bool, x0, y0 int) {
	t.Helper()
	for dy := 0; dy < 7; dy++ {
		for dx := 0; dx < 7; dx++ {
			ring := max(abs(dx-3), abs(dy-3))
			want := ring != 2 // rings 3 and 0–1 dark, ring 2 light
			if g[y0+dy][x0+dx] != want {
				t.Fatalf("finder at (%d,%d): module (%d,%d) = %v, want %v", x0, y0, dx, dy, g[y0+dy][x0+dx], want)
			}
		}
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func TestRenderQR(t *testing.T) {
	uri := URI(Key{Secret: seed20}, "alice", "bastion1")
	code, err := EncodeQR(uri)
	if err != nil {
		t.Fatal(err)
	}
	if (code.Size-17)%4 != 0 || code.Size < 21 {
		t.Fatalf("size %d is not 17+4·version", code.Size)
	}
	for _, style := range []QRStyle{QRHalfBlocks, QRASCII} {
		s, err := RenderQR(uri, style)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(s) {
			t.Fatal("invalid UTF-8")
		}
		var g [][]bool
		if style == QRASCII {
			g = parseASCII(t, s)
		} else {
			g = parseHalfBlocks(t, s)
		}
		n := code.Size + 2*QuietZone
		if style == QRHalfBlocks && n%2 == 1 {
			n++ // the last text line's bottom half is quiet zone
		}
		if len(g) != n || len(g[0]) != code.Size+2*QuietZone {
			t.Fatalf("style %d: grid %d×%d, want %d rows of %d", style, len(g), len(g[0]), n, code.Size+2*QuietZone)
		}
		for y := range g {
			for x := range g[y] {
				mx, my := x-QuietZone, y-QuietZone
				inside := mx >= 0 && my >= 0 && mx < code.Size && my < code.Size
				if !inside && g[y][x] {
					t.Fatalf("style %d: dark module in the quiet zone at (%d,%d)", style, x, y)
				}
				if inside && g[y][x] != code.Black(mx, my) {
					t.Fatalf("style %d: module (%d,%d) differs from the encoder", style, mx, my)
				}
			}
		}
		q, last := QuietZone, QuietZone+code.Size-7
		checkFinder(t, g, q, q)
		checkFinder(t, g, last, q)
		checkFinder(t, g, q, last)
		// Timing pattern: row 6 alternates between the finders.
		for x := 8; x < code.Size-8; x++ {
			if g[q+6][q+x] != (x%2 == 0) {
				t.Fatalf("style %d: timing pattern broken at column %d", style, x)
			}
		}
	}
}

func TestEnrollment(t *testing.T) {
	e, err := NewEnrollment("alice", "bastion1", 5, QRHalfBlocks)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Key.Secret) != 20 || len(e.ScratchCodes) != 5 || !strings.Contains(e.URI, "secret="+e.Secret) ||
		!strings.HasPrefix(e.URI, "otpauth://totp/gatehouse:alice@bastion1?") || e.QR == "" {
		t.Fatalf("enrolment incomplete: %+v", e)
	}
}
