// The age author's TypeScript implementation (npm "age-encryption", typage) as a command,
// so that sanduq's tests can check its mlkem768x25519 module against an independent one.
//
//   node age-pq.mjs keygen                 new hybrid identity; prints it, then its recipient
//   node age-pq.mjs recipient IDENTITY     prints the recipient of IDENTITY
//   node age-pq.mjs encrypt RECIPIENT...   encrypts stdin to the recipients, binary age on stdout
//   node age-pq.mjs decrypt IDFILE FILE    decrypts FILE with the identities in IDFILE
//
// Any failure prints one line on stderr and exits 1.
import { readFileSync, writeSync } from "node:fs"
import * as age from "age-encryption"

function out(bytes) {
    let off = 0
    while (off < bytes.length) off += writeSync(1, bytes, off, bytes.length - off)
}

async function main(argv) {
    const [cmd, ...args] = argv
    switch (cmd) {
        case "keygen": {
            const identity = await age.generateHybridIdentity()
            const recipient = await age.identityToRecipient(identity)
            out(new TextEncoder().encode(`${identity}\n${recipient}\n`))
            return
        }
        case "recipient": {
            out(new TextEncoder().encode(`${await age.identityToRecipient(args[0])}\n`))
            return
        }
        case "encrypt": {
            if (args.length === 0) throw new Error("encrypt needs at least one recipient")
            const e = new age.Encrypter()
            for (const r of args) e.addRecipient(r)
            out(await e.encrypt(new Uint8Array(readFileSync(0))))
            return
        }
        case "decrypt": {
            const d = new age.Decrypter()
            for (const line of readFileSync(args[0], "utf8").split("\n")) {
                const l = line.trim()
                if (l.startsWith("AGE-SECRET-KEY-")) d.addIdentity(l)
            }
            out(await d.decrypt(new Uint8Array(readFileSync(args[1])), "uint8array"))
            return
        }
        default:
            throw new Error("usage: age-pq.mjs keygen | recipient ID | encrypt R... | decrypt IDFILE FILE")
    }
}

main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`typage: ${e && e.message ? e.message : e}\n`)
    process.exit(1)
})
