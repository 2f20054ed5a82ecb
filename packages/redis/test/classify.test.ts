import { isFatalError, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import {
  classifyRedisError,
  isFailoverSignal,
  isNodeFailure,
  isTlsFailure,
  replyCode,
  toFatalError,
} from '../src/resilience/classify.js'

function reply(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' })
}
function sys(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code })
}

describe('classifyRedisError', () => {
  it.each([
    ['ECONNREFUSED', sys('ECONNREFUSED')],
    ['ECONNRESET', sys('ECONNRESET')],
    ['EPIPE', sys('EPIPE')],
    ['ETIMEDOUT', sys('ETIMEDOUT')],
    ['Connection is closed', new Error('Connection is closed.')],
    ['offline queue off', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['command timeout', new Error('Command timed out')],
    [
      'MaxRetriesPerRequestError',
      Object.assign(new Error('Reached the max retries per request limit'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['READONLY', reply("READONLY You can't write against a read only replica.")],
    ['LOADING', reply('LOADING Redis is loading the dataset in memory')],
    ['MASTERDOWN', reply('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no')],
    ['TRYAGAIN', reply('TRYAGAIN Multiple keys request during rehashing of slot')],
    ['CLUSTERDOWN', reply('CLUSTERDOWN The cluster is down')],
    ['MOVED', reply('MOVED 3999 127.0.0.1:6381')],
    ['ASK', reply('ASK 3999 127.0.0.1:6381')],
    ['redirection storm', new Error('Too many Cluster redirections. Last error: MOVED 1 x:1')],
    [
      'cluster pipeline refused after a slot-map change',
      new Error('All keys in the pipeline should belong to the same slots allocation group'),
    ],
    ['CIRCUIT_OPEN', new TierCacheError('CIRCUIT_OPEN', 'open')],
    ['STORE_UNAVAILABLE', new TierCacheError('STORE_UNAVAILABLE', 'down')],
  ])('%s is retryable', (_name, error) => {
    expect(classifyRedisError(error)).toBe('retryable')
  })

  it.each([
    ['NOAUTH', reply('NOAUTH Authentication required.')],
    ['WRONGPASS', reply('WRONGPASS invalid username-password pair or user is disabled.')],
    ['ERR invalid password (old servers)', reply('ERR invalid password')],
    ['AUTH_FAILED', new TierCacheError('AUTH_FAILED', 'bad')],
  ])('%s is fatal', (_name, error) => {
    expect(classifyRedisError(error)).toBe('fatal')
  })

  it.each([
    ['WRONGTYPE', reply('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['NOPERM', reply('NOPERM this user has no permissions to access one of the keys used as arguments')],
    ['ERR syntax', reply('ERR syntax error')],
    ['ERR unknown command', reply("ERR unknown command 'FOO'")],
    ['OOM', reply('OOM command not allowed when used memory > maxmemory')],
    ['a plain bug', new TypeError('x is not a function')],
    ['not an error', 'boom'],
    ['null', null],
    ['INVALID_KEY', new TierCacheError('INVALID_KEY', 'bad key')],
  ])('%s is permanent', (_name, error) => {
    expect(classifyRedisError(error)).toBe('permanent')
  })
})

describe('isFailoverSignal', () => {
  it('is true for READONLY, MASTERDOWN and connection loss', () => {
    expect(isFailoverSignal(reply("READONLY You can't write against a read only replica."))).toBe(true)
    expect(isFailoverSignal(reply('MASTERDOWN Link with MASTER is down'))).toBe(true)
    expect(isFailoverSignal(sys('ECONNRESET'))).toBe(true)
    expect(isFailoverSignal(new Error('Connection is closed.'))).toBe(true)
  })
  it('is false for LOADING, MOVED, WRONGTYPE, timeouts and the open circuit', () => {
    expect(isFailoverSignal(reply('LOADING Redis is loading'))).toBe(false)
    expect(isFailoverSignal(reply('MOVED 1 127.0.0.1:1'))).toBe(false)
    expect(isFailoverSignal(reply('WRONGTYPE x'))).toBe(false)
    expect(isFailoverSignal(new TierCacheError('CIRCUIT_OPEN', 'open'))).toBe(false)
  })
})

describe('replyCode / toFatalError', () => {
  it('reads the reply prefix', () => {
    expect(replyCode(reply('READONLY x'))).toBe('READONLY')
    expect(replyCode(new Error('Connection is closed.'))).toBeUndefined()
  })
  it('turns auth errors into a fatal AUTH_FAILED and leaves the rest alone', () => {
    const fatal = toFatalError(reply('WRONGPASS invalid username-password pair'))
    expect(fatal).toBeInstanceOf(TierCacheError)
    expect(fatal?.code).toBe('AUTH_FAILED')
    expect(isFatalError(fatal)).toBe(true)
    expect(toFatalError(reply('READONLY x'))).toBeUndefined()
    expect(toFatalError(reply('WRONGTYPE x'))).toBeUndefined()
  })
})

describe('isNodeFailure (what a circuit breaker counts)', () => {
  it('counts sickness: connection loss, timeouts, READONLY, LOADING', () => {
    for (const error of [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      new Error('Command timed out'),
      Object.assign(new Error("READONLY You can't write against a read only replica."), {
        name: 'ReplyError',
      }),
      Object.assign(new Error('LOADING Redis is loading the dataset in memory'), { name: 'ReplyError' }),
    ]) {
      expect(isNodeFailure(error), String(error.message)).toBe(true)
    }
  })

  it('does not count routing answers from healthy nodes during a reshard, nor permanent errors', () => {
    for (const error of [
      Object.assign(new Error('MOVED 3999 127.0.0.1:6381'), { name: 'ReplyError' }),
      Object.assign(new Error('ASK 3999 127.0.0.1:6381'), { name: 'ReplyError' }),
      Object.assign(new Error('TRYAGAIN Multiple keys request during rehashing of slot'), {
        name: 'ReplyError',
      }),
      Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' }),
      new Error('All keys in the pipeline should belong to the same slots allocation group'),
      new Error('Too many Cluster redirections. Last error: MOVED 1 x:1'),
      Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), {
        name: 'ReplyError',
      }),
    ]) {
      expect(isNodeFailure(error), String(error.message)).toBe(false)
    }
  })
})

describe('TLS failures (fatal TLS_FAILED) and sentinels that refuse us', () => {
  const tlsError = (code: string, message: string) => Object.assign(new Error(message), { code })
  const sentinels = (last: string) =>
    new Error(`All sentinels are unreachable. Retrying from scratch after 80ms. Last error: ${last}`)

  it('a certificate the client refuses, or a server that refuses ours, is fatal TLS_FAILED', () => {
    for (const error of [
      tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      tlsError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
      tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      tlsError('CERT_HAS_EXPIRED', 'certificate has expired'),
      tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: x."),
      tlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'),
      tlsError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      sentinels('self-signed certificate in certificate chain'), // the code did not survive the wrapper
    ]) {
      expect(isTlsFailure(error)).toBe(true)
      expect(classifyRedisError(error)).toBe('fatal')
      const fatal = toFatalError(error, 'the redis server')
      expect(fatal?.code).toBe('TLS_FAILED')
      expect(isFatalError(fatal)).toBe(true)
    }
    expect(toFatalError(sentinels('self-signed certificate'))?.message).toMatch(
      /^TLS to the sentinels failed/,
    )
    expect(toFatalError(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate'))?.message).toMatch(
      /tls\.ca/,
    )
  })

  it('a reset or timeout during the handshake stays retryable', () => {
    expect(isTlsFailure(sys('ECONNRESET'))).toBe(false)
    expect(
      classifyRedisError(
        tlsError(
          'ECONNRESET',
          'Client network socket disconnected before secure TLS connection was established',
        ),
      ),
    ).toBe('retryable')
    expect(classifyRedisError(new Error('connect ETIMEDOUT'))).toBe('retryable')
  })

  it('sentinels that refuse the credentials are AUTH_FAILED naming the sentinels; unreachable ones stay retryable', () => {
    const wrongPass = sentinels('WRONGPASS invalid username-password pair or user is disabled.')
    expect(classifyRedisError(wrongPass)).toBe('fatal')
    const fatal = toFatalError(wrongPass, 'the sentinel master')
    expect(fatal?.code).toBe('AUTH_FAILED')
    expect(fatal?.message).toMatch(
      /^the sentinels rejected the credentials \(sentinelUsername \/ sentinelPassword\)/,
    )
    expect(classifyRedisError(sentinels('NOAUTH Authentication required.'))).toBe('fatal')
    expect(classifyRedisError(sentinels('connect ECONNREFUSED 127.0.0.1:26379'))).toBe('retryable')
    expect(
      classifyRedisError(new Error('All sentinels are unreachable. Retrying from scratch after 80ms.')),
    ).toBe('retryable')
  })
})
