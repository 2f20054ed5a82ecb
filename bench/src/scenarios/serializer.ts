import { jsonSerializer, msgpackSerializer, type Serializer } from '@tiercache/core'
import { user } from '../fixtures.js'
import { type Section, table } from '../harness/report.js'
import { formatOps, formatRatio } from '../harness/stats.js'
import { type Contender, measureThroughput, type ThroughputOptions } from '../harness/throughput.js'

const BATCH = 1_000

/** The values the other scenarios cache, plus a list of them (a typical "page" payload). */
const VALUES: ReadonlyArray<readonly [string, unknown]> = [
  ['user record', user(42)],
  ['list of 50 users', Array.from({ length: 50 }, (_, i) => user(i))],
  ['short string', 'hello world'],
]

/**
 * Serializer micro-bench: tiercache's two built-in serializers (msgpack = msgpackr with records and the
 * extension types on; json = JSON + UTF-8) encoding and decoding the benchmark values. Encode is measured
 * through the serializer itself (the engine adds an encodability walk for msgpack, measured on writes only).
 */
export async function serializers(options: ThroughputOptions): Promise<Section> {
  const serializersUnderTest: readonly Serializer[] = [msgpackSerializer, jsonSerializer]
  const contenders: Contender[] = []
  const sizes = new Map<string, number>()
  for (const [label, value] of VALUES) {
    for (const serializer of serializersUnderTest) {
      const bytes = serializer.encode(value)
      sizes.set(`${label}/${serializer.name}`, bytes.length)
      const batch = label.startsWith('list') ? BATCH / 20 : BATCH
      let sink = 0
      contenders.push(
        {
          name: `${label}/${serializer.name}/encode`,
          batch,
          run: () => {
            for (let i = 0; i < batch; i++) sink += serializer.encode(value).length
            return sink
          },
        },
        {
          name: `${label}/${serializer.name}/decode`,
          batch,
          run: () => {
            for (let i = 0; i < batch; i++) if (serializer.decode(bytes) !== undefined) sink++
            return sink
          },
        },
      )
    }
  }
  const ops = await measureThroughput(contenders, options)
  const rows: string[][] = []
  for (const [label] of VALUES) {
    const msgEnc = ops.get(`${label}/msgpack/encode`)!
    const msgDec = ops.get(`${label}/msgpack/decode`)!
    const jsonEnc = ops.get(`${label}/json/encode`)!
    const jsonDec = ops.get(`${label}/json/decode`)!
    rows.push([
      label,
      `${sizes.get(`${label}/msgpack`)} / ${sizes.get(`${label}/json`)}`,
      `${formatOps(msgEnc)} / ${formatOps(jsonEnc)}`,
      formatRatio(msgEnc / jsonEnc),
      `${formatOps(msgDec)} / ${formatOps(jsonDec)}`,
      formatRatio(msgDec / jsonDec),
    ])
  }
  return {
    id: 'serializer',
    title: 'Serializers: msgpack (msgpackr) vs JSON',
    markdown: table(
      [
        'value',
        'bytes msgpack / json',
        'encode msgpack / json',
        'msgpack ÷ json',
        'decode msgpack / json',
        'msgpack ÷ json',
      ],
      rows,
    ),
    bars: [],
    data: { ops: Object.fromEntries(ops), sizes: Object.fromEntries(sizes) },
  }
}
