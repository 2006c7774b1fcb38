package totp

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// QRStyle selects how a QR code is drawn in a terminal.
type QRStyle int

const (
	// QRHalfBlocks draws two module rows per text line with Unicode half blocks, dark modules
	// as ink on a forced white background (ANSI colours), so the code scans on dark and light
	// terminals alike. Needs a UTF-8 terminal.
	QRHalfBlocks QRStyle = iota
	// QRASCII draws each module as two characters ("##" dark, "  " light) with no escape
	// sequences, for terminals without UTF-8 or colours. It scans best on a light background.
	QRASCII
)

// QuietZone is the light border around the code, in modules (the QR specification asks for 4).
const QuietZone = 4

const (
	ansiBlackOnWhite = "\x1b[30;107m"
	ansiReset        = "\x1b[0m"
)

// EncodeQR encodes text (an otpauth:// URI) at error correction level M.
func EncodeQR(text string) (*qr.Code, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("totp: encoding QR code: %w", err)
	}
	return c, nil
}

// RenderQR returns text drawn as a QR code for a terminal, lines ending in "\n".
func RenderQR(text string, style QRStyle) (string, error) {
	c, err := EncodeQR(text)
	if err != nil {
		return "", err
	}
	return renderCode(c, style), nil
}

func renderCode(c *qr.Code, style QRStyle) string {
	lo, hi := -QuietZone, c.Size+QuietZone // module range drawn, quiet zone included
	var b strings.Builder
	switch style {
	case QRASCII:
		for y := lo; y < hi; y++ {
			for x := lo; x < hi; x++ {
				if c.Black(x, y) {
					b.WriteString("##")
				} else {
					b.WriteString("  ")
				}
			}
			b.WriteString("\n")
		}
	default:
		for y := lo; y < hi; y += 2 {
			b.WriteString(ansiBlackOnWhite)
			for x := lo; x < hi; x++ {
				top, bottom := c.Black(x, y), c.Black(x, y+1) // Black is false outside the code
				switch {
				case top && bottom:
					b.WriteString("█")
				case top:
					b.WriteString("▀")
				case bottom:
					b.WriteString("▄")
				default:
					b.WriteString(" ")
				}
			}
			b.WriteString(ansiReset + "\n")
		}
	}
	return b.String()
}
