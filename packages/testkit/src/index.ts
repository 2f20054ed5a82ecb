export { type RedisBinaryInfo, redisBinary } from './binary.js'
export { type ClusterOptions, type ClusterTopology, startCluster } from './cluster.js'
export { type DockerStatus, dockerAvailable } from './docker.js'
export { keySlot } from './key-slot.js'
export { freePort } from './ports.js'
export type { NodeControl, RedisNode } from './process.js'
export { command, RespConnection, RespError, type RespOptions, type RespReply } from './resp-client.js'
export { type SentinelOptions, type SentinelTopology, startSentinel } from './sentinel.js'
export {
  type AclUser,
  type StandaloneOptions,
  type StandaloneTopology,
  startStandalone,
} from './standalone.js'
export { type TlsAvailability, tlsAvailable } from './tls.js'
