// cluster-key-slot (the CRC16 slot function ioredis itself routes with) ships no types.
declare module 'cluster-key-slot' {
  /** Hash slot (0–16383) of a key, honouring `{hash tags}`. */
  function calculateSlot(key: string | Buffer): number
  namespace calculateSlot {
    /** The common slot of all keys, or -1 when they differ. */
    function generateMulti(keys: ReadonlyArray<string | Buffer>): number
  }
  export default calculateSlot
}
