// Writes every vector of the C2SP CCTV age test kit (npm "cctv-age") into a folder, so that
// sanduq's tests (tests/cctv.rs) can decrypt each one with sanduq's own code.
//
//   node vectors.mjs DIR
//
// Each vector becomes DIR/NAME, byte for byte as the kit has it. A vector whose header says
// "compressed: zlib" also gets DIR/NAME.inflated: its age file, inflated (Node's zlib), since
// sanduq has no zlib of its own. Any failure prints one line on stderr and exits 1.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { inflateSync } from "node:zlib"
import * as vectors from "cctv-age"

const dir = process.argv[2]
if (!dir) throw new Error("usage: vectors.mjs DIR")
mkdirSync(dir, { recursive: true })
let n = 0
for (const [name, bytes] of Object.entries(vectors)) {
    writeFileSync(join(dir, name), bytes)
    // The header ends at the first empty line; the age file follows it.
    const end = bytes.findIndex((b, i) => b === 10 && bytes[i + 1] === 10)
    const header = new TextDecoder().decode(bytes.subarray(0, end))
    if (header.split("\n").includes("compressed: zlib")) {
        writeFileSync(join(dir, name + ".inflated"), inflateSync(bytes.subarray(end + 2)))
    }
    n++
}
process.stdout.write(`${n}\n`)
