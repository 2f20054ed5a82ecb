// The cluster slot of a key (hash tags `{…}` honoured), as CLUSTER KEYSLOT computes it: core's, which lays
// out tiercache's fence keys by it.
export { keySlot } from '@tiercache/core'
