package proctest

import (
	"bytes"
	"encoding/binary"
	"os"
)

// WriteKernelELF writes a minimal x86-64 ELF file standing for a vmlinux:
// one PT_NOTE segment holding a note named noteName of type noteType
// ("Xen", 18 is the PVH entry point CONFIG_PVH adds).
func WriteKernelELF(path, noteName string, noteType uint32) error {
	le := binary.LittleEndian
	name := append([]byte(noteName), 0)
	for len(name)%4 != 0 {
		name = append(name, 0)
	}
	var note bytes.Buffer
	binary.Write(&note, le, []uint32{uint32(len(noteName) + 1), 4, noteType})
	note.Write(name)
	note.Write([]byte{0, 0, 0, 1})

	const ehsize, phsize = 64, 56
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(2))  // ET_EXEC
	binary.Write(&b, le, uint16(62)) // EM_X86_64
	binary.Write(&b, le, uint32(1))
	binary.Write(&b, le, uint64(0x1000000)) // entry
	binary.Write(&b, le, uint64(ehsize))    // phoff
	binary.Write(&b, le, uint64(0))         // shoff
	binary.Write(&b, le, uint32(0))
	binary.Write(&b, le, []uint16{ehsize, phsize, 1, 64, 0, 0})
	binary.Write(&b, le, uint32(4)) // PT_NOTE
	binary.Write(&b, le, uint32(4)) // PF_R
	binary.Write(&b, le, uint64(ehsize+phsize))
	binary.Write(&b, le, []uint64{0, 0, uint64(note.Len()), uint64(note.Len()), 4})
	b.Write(note.Bytes())
	return os.WriteFile(path, b.Bytes(), 0o755)
}
