const MASK = '***'

/**
 * Masks credentials that ioredis copies into its errors. A reply error carries the failed command as
 * `error.command = { name, args }`, and the handshake sends the password as an argument: a rejected
 * `HELLO 3 AUTH <user> <password>` (or `AUTH <password>`) puts the password in the error, and from there
 * into `cause` chains, `util.inspect`, loggers that serialise errors (pino) and error events. Replaces
 * `command` (never mutates ioredis' own argument array) in the error, its `cause` chain, a cluster error's
 * `lastNodeError` and an AggregateError's `errors`. Returns the same error, for chaining.
 */
export function scrubSecrets<T>(error: T): T {
  scrub(error, new Set(), 0)
  return error
}

function scrub(value: unknown, seen: Set<object>, depth: number): void {
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 8) return
  seen.add(value)
  const holder = value as {
    command?: { name?: unknown; args?: unknown }
    cause?: unknown
    lastNodeError?: unknown
    errors?: unknown
  }
  const command = holder.command
  if (typeof command === 'object' && command !== null && Array.isArray(command.args)) {
    const args = maskArgs(String(command.name ?? ''), command.args)
    if (args !== command.args) {
      try {
        holder.command = { ...command, args }
      } catch {
        // A frozen or accessor-only property: nothing we can replace.
      }
    }
  }
  scrub(holder.cause, seen, depth + 1)
  scrub(holder.lastNodeError, seen, depth + 1)
  if (Array.isArray(holder.errors)) for (const inner of holder.errors) scrub(inner, seen, depth + 1)
}

const word = (arg: unknown) => (typeof arg === 'string' ? arg : Buffer.isBuffer(arg) ? arg.toString() : '')

/** The arguments with every credential replaced, or the same array when there is none. */
function maskArgs(name: string, args: readonly unknown[]): unknown[] {
  const command = name.toLowerCase()
  const masked = [...args]
  let changed = false
  const mask = (index: number) => {
    if (index < masked.length) {
      masked[index] = MASK
      changed = true
    }
  }
  if (command === 'auth') {
    // AUTH <password> | AUTH <username> <password>
    mask(masked.length - 1)
  } else {
    // HELLO <protover> AUTH <username> <password> …, MIGRATE … AUTH <password> | AUTH2 <username> <password>
    for (let i = 0; i < masked.length; i++) {
      const option = word(masked[i]).toUpperCase()
      if (option === 'AUTH') mask(command === 'migrate' ? i + 1 : i + 2)
      else if (option === 'AUTH2') mask(i + 2)
    }
    // CONFIG SET requirepass|masterauth <password>, ACL SETUSER <user> >password …
    if (command === 'config')
      for (let i = 1; i < masked.length; i++)
        if (/^(?:requirepass|masterauth|masteruser)$/i.test(word(masked[i]))) mask(i + 1)
    if (command === 'acl')
      for (let i = 0; i < masked.length; i++) if (/^[<>#!]/.test(word(masked[i]))) mask(i)
  }
  return changed ? masked : (args as unknown[])
}
