import { command, type RespOptions } from './resp-client.js'

/**
 * How many logins a node has refused: the `ACL LOG` entries with reason `auth`, summed over their
 * counts (the server folds repeats of one failure into one entry). For tests that a client which got a
 * wrong password stops sending it. `auth` is how the testkit itself logs in (password, TLS).
 */
export async function aclAuthFailures(
  node: { readonly host: string; readonly port: number },
  auth: RespOptions = {},
): Promise<number> {
  const log = await command(node.host, node.port, ['ACL', 'LOG'], { timeoutMs: 2_000, ...auth })
  let total = 0
  for (const entry of Array.isArray(log) ? log : []) {
    if (!Array.isArray(entry)) continue
    const fields = new Map<string, unknown>()
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1])
    if (String(fields.get('reason')) === 'auth') total += Number(fields.get('count') ?? 1)
  }
  return total
}

/**
 * The commands a tiercache cache sends to a standalone server or a Sentinel data node — the least-privilege
 * list of docs/security.md, for `ACL SETUSER <user> on >pw ~N:* &N:* -@all <this>` (a test checks the doc
 * shows the same list). Cluster adds {@link TIERCACHE_CLUSTER_ACL_COMMANDS}.
 */
export const TIERCACHE_ACL_COMMANDS =
  '+hello +auth +client|setname +ping +info +quit +get +mget +set +unlink +scan +incr +pexpire +eval +evalsha +publish +subscribe +unsubscribe'

/** What a Cluster node also needs: the slot map and the start-up diagnosis. */
export const TIERCACHE_CLUSTER_ACL_COMMANDS = '+cluster|slots +cluster|info'
