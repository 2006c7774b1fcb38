package open

import (
	"encoding/json"
	"fmt"

	"gatehouse/internal/osh"
)

// A batch is bounded in what it makes the bastion hold, whatever its input: each result is
// encoded to JSON as soon as its command ends (the command's value is not kept), the text a user
// sent is echoed back shortened, and the values kept for the final JSON have a total budget.
// Input itself is read a line at a time, each at most maxCommandLineBytes, and at most
// maxBatchLines lines.
const (
	// maxBatchEcho is how much of a line is echoed back ("--- line") and kept as the item's
	// command: a 60 KB line is shown by its start and its length.
	maxBatchEcho = 512
	// maxBatchMessage bounds a result's message kept in the batch's JSON (a refusal may quote
	// what the user sent).
	maxBatchMessage = 1024
	// maxBatchValues is the budget of the commands' values, encoded, in the batch's JSON; past
	// it an item keeps its code and message and its value becomes null, with a note.
	maxBatchValues = 1 << 20
)

// batchResults holds a batch's items as encoded JSON.
type batchResults struct {
	items      []json.RawMessage
	valueBytes int
}

// batchItem is one item of the batch's value, as The Bastion's batch gives it.
type batchItem struct {
	Command string     `json:"command"`
	Result  osh.Result `json:"result"`
}

// add encodes the result of line now, so nothing of the command's value stays referenced.
func (b *batchResults) add(line string, r osh.Result) {
	r.Message = clip(r.Message, maxBatchMessage)
	item := batchItem{Command: clip(line, maxBatchEcho), Result: r}
	data, err := json.Marshal(item)
	if err == nil && b.valueBytes+len(data) > maxBatchValues {
		err = fmt.Errorf("over budget")
	}
	if err != nil {
		// Keep what the user needs to know: the command, its code, its message, without the value.
		item.Result.Value = nil
		item.Result.Message = r.Message + fmt.Sprintf(" (value left out: a batch's JSON holds at most %d MiB of values)", maxBatchValues>>20)
		data, _ = json.Marshal(item)
	} else {
		b.valueBytes += len(data)
	}
	b.items = append(b.items, data)
}

// value is the batch's JSON value: the list of items.
func (b *batchResults) value() []json.RawMessage {
	if b.items == nil {
		return []json.RawMessage{}
	}
	return b.items
}

// clip is osh.Clip: what a batch echoes and keeps of a user's text.
func clip(s string, max int) string { return osh.Clip(s, max) }
