package fakevelox

import (
	"encoding/binary"
)

// The smallest ELF64 executable that Go's debug/buildinfo reads: a file header, one
// PT_LOAD program header (buildinfo resolves addresses through the segments), and a
// section table naming `.go.buildinfo` (where it looks first) and `.shstrtab`.
// Little endian, as the build-info flags below say.
const (
	elfHeaderSize     = 64
	elfProgHeaderSize = 56
	elfSectHeaderSize = 64
	elfBaseAddr       = 0x400000

	ptLoad       = 1
	pfW, pfR     = 0x2, 0x4
	shtProgbits  = 1
	shtStrtab    = 3
	shfWrite     = 0x1
	shfAlloc     = 0x2
	etExec       = 2
	evCurrent    = 1
	elfClass64   = 2
	elfData2LSB  = 1
	buildInfoAt  = 128 // 16-byte aligned, as the linker aligns the section
	shstrtabText = "\x00.go.buildinfo\x00.shstrtab\x00"
)

// buildInfoMagic and the header layout are Go 1.18+'s (debug/buildinfo): magic, pointer
// size, flags (0x2: strings inline, little endian), zero padding to 32 bytes, then the
// Go version and the module information as uvarint-prefixed strings.
var buildInfoMagic = []byte("\xff Go buildinf:")

const (
	buildInfoHeaderSize = 32
	buildInfoPtrSize    = 8
	buildInfoFlagsInl   = 0x2
)

// elfMachine is e_machine per GOARCH; readers do not check it, but `file rr` names it.
var elfMachine = map[string]uint16{"386": 3, "arm": 40, "amd64": 62, "arm64": 183, "riscv64": 243}

// elfExecutable lays out header, program header, .go.buildinfo, .shstrtab and the
// section headers, in that order; capacity only sizes the buffer for padding after it.
func elfExecutable(goVersion, modInfo, arch string, capacity int) []byte {
	blob := buildInfoBlob(goVersion, modInfo)
	strtabAt := buildInfoAt + len(blob)
	shoff := align(strtabAt+len(shstrtabText), 8)
	end := shoff + 3*elfSectHeaderSize

	out := make([]byte, end, max(end, capacity))
	le := binary.LittleEndian

	// File header.
	copy(out, "\x7fELF")
	out[4], out[5], out[6] = elfClass64, elfData2LSB, evCurrent
	le.PutUint16(out[16:], etExec)
	le.PutUint16(out[18:], elfMachine[arch])
	le.PutUint32(out[20:], evCurrent)
	le.PutUint64(out[24:], elfBaseAddr+buildInfoAt) // e_entry: never run
	le.PutUint64(out[32:], elfHeaderSize)           // e_phoff
	le.PutUint64(out[40:], uint64(shoff))           // e_shoff
	le.PutUint16(out[52:], elfHeaderSize)
	le.PutUint16(out[54:], elfProgHeaderSize)
	le.PutUint16(out[56:], 1) // e_phnum
	le.PutUint16(out[58:], elfSectHeaderSize)
	le.PutUint16(out[60:], 3) // e_shnum: null, .go.buildinfo, .shstrtab
	le.PutUint16(out[62:], 2) // e_shstrndx

	// The one segment: the build info, read-write data like the linker's.
	ph := out[elfHeaderSize:]
	le.PutUint32(ph[0:], ptLoad)
	le.PutUint32(ph[4:], pfR|pfW)
	le.PutUint64(ph[8:], buildInfoAt)
	le.PutUint64(ph[16:], elfBaseAddr+buildInfoAt)
	le.PutUint64(ph[24:], elfBaseAddr+buildInfoAt)
	le.PutUint64(ph[32:], uint64(len(blob)))
	le.PutUint64(ph[40:], uint64(len(blob)))
	le.PutUint64(ph[48:], 16)

	copy(out[buildInfoAt:], blob)
	copy(out[strtabAt:], shstrtabText)

	// Section 0 stays all zero, as ELF wants.
	sh := out[shoff+elfSectHeaderSize:]
	le.PutUint32(sh[0:], 1) // name: ".go.buildinfo"
	le.PutUint32(sh[4:], shtProgbits)
	le.PutUint64(sh[8:], shfWrite|shfAlloc)
	le.PutUint64(sh[16:], elfBaseAddr+buildInfoAt)
	le.PutUint64(sh[24:], buildInfoAt)
	le.PutUint64(sh[32:], uint64(len(blob)))
	le.PutUint64(sh[48:], 16)
	sh = out[shoff+2*elfSectHeaderSize:]
	le.PutUint32(sh[0:], 15) // name: ".shstrtab"
	le.PutUint32(sh[4:], shtStrtab)
	le.PutUint64(sh[24:], uint64(strtabAt))
	le.PutUint64(sh[32:], uint64(len(shstrtabText)))
	le.PutUint64(sh[48:], 1)
	return out
}

// buildInfoBlob is the contents of .go.buildinfo.
func buildInfoBlob(goVersion, modInfo string) []byte {
	out := make([]byte, buildInfoHeaderSize, buildInfoHeaderSize+len(goVersion)+len(modInfo)+20)
	copy(out, buildInfoMagic)
	out[len(buildInfoMagic)] = buildInfoPtrSize
	out[len(buildInfoMagic)+1] = buildInfoFlagsInl
	out = binary.AppendUvarint(out, uint64(len(goVersion)))
	out = append(out, goVersion...)
	out = binary.AppendUvarint(out, uint64(len(modInfo)))
	return append(out, modInfo...)
}

func align(n, to int) int {
	return (n + to - 1) / to * to
}
