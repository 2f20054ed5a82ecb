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
