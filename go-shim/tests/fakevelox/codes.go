package fakevelox

import (
	_ "embed"
	"encoding/json"
)

// connectCodesJSON is the Connect code table shared with the Rust fake and checked
// against the library's client, so the three cannot drift apart.
//
//go:embed connect_codes.json
var connectCodesJSON []byte

// codeTable is the part of connect_codes.json a server needs.
type codeTable struct {
	CodeToHTTP      map[string]int `json:"code_to_http"`
	UnknownCodeHTTP int            `json:"unknown_code_http"`
}

var connectCodes = mustCodeTable(connectCodesJSON)

func mustCodeTable(data []byte) codeTable {
	var t codeTable
	if err := json.Unmarshal(data, &t); err != nil {
		panic("fakevelox: connect_codes.json: " + err.Error())
	}
	return t
}

// status is the HTTP status a Connect server answers with code.
func (t codeTable) status(code string) int {
	if s, ok := t.CodeToHTTP[code]; ok {
		return s
	}
	return t.UnknownCodeHTTP
}
