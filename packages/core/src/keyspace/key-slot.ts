// CRC16/XMODEM, the hash Redis Cluster uses for key slots.
const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  TABLE[i] = crc
}

export const SLOT_COUNT = 16384

function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!
  return crc
}

/**
 * The part of a key Redis Cluster hashes: the content of the first `{…}` when it is non-empty, else the
 * whole key (as CLUSTER KEYSLOT does).
 */
export function hashPart(key: string): string {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return key.slice(open + 1, close)
  }
  return key
}

/** The cluster slot of a key (hash tags `{…}` honoured), as CLUSTER KEYSLOT computes it. */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashPart(key))) % SLOT_COUNT
}

let slotTags: string[] | undefined

/**
 * A short hash tag for every slot: `{${slotTag(s)}}` puts a key in slot `s`. Built once on first use by
 * trying base-36 counters until every slot has one (≈ 170k CRCs, a few milliseconds).
 */
export function slotTag(slot: number): string {
  if (slotTags === undefined) {
    const tags = new Array<string>(SLOT_COUNT)
    let found = 0
    for (let n = 0; found < SLOT_COUNT; n++) {
      const candidate = n.toString(36)
      const s = crc16(Buffer.from(candidate)) % SLOT_COUNT
      if (tags[s] === undefined) {
        tags[s] = candidate
        found++
      }
    }
    slotTags = tags
  }
  return slotTags[slot]!
}
