package sqlite

import "gatehouse/internal/store/storecol"

// The column encodings both SQL stores share, under the names this store's code uses.
var (
	unix         = storecol.Unix
	fromUnix     = storecol.FromUnix
	unixNano     = storecol.UnixNano
	fromUnixNano = storecol.FromUnixNano
	formatTries  = storecol.FormatTries
	parseTries   = storecol.ParseTries

	unixNanoOrZero = storecol.UnixNano
)
