/**
 * Transaction markers, byte for byte Kafka's (EndTransactionMarker, ControlRecordType), and
 * read back by KafkaJS's own RecordBatch decoder.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { controlKey, encodeMarkerBatch, markerValue, readControlRecord } from '../../core/codec/control-batch.ts'
import { decodeBatch, readBatchHeader, validateBatch } from '../../core/codec/record-batch.ts'

const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder')
const decodeKafkaJSBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex')

describe('control batches (transaction markers)', () => {
  it('key and value are version 0, then the type (0 abort, 1 commit) and the coordinator epoch', () => {
    expect(hex(controlKey('abort'))).toBe('00000000')
    expect(hex(controlKey('commit'))).toBe('00000001')
    expect(hex(markerValue(0))).toBe('000000000000')
    expect(hex(markerValue(0x01020304))).toBe('000001020304')
  })

  it('a commit marker batch: transactional + control attributes, base sequence -1, one record, Kafka bytes', async () => {
    const ts = 1_700_000_000_123
    const bytes = encodeMarkerBatch({ producerId: 4242, producerEpoch: 7, type: 'commit', coordinatorEpoch: 3, timestamp: ts })
    expect(bytes.byteLength).toBe(78)
    await validateBatch(bytes)
    const header = readBatchHeader(bytes)
    expect(header).toMatchObject({
      batchLength: 66, magic: 2, attributes: 0x30, isControl: true, isTransactional: true, lastOffsetDelta: 0,
      baseTimestamp: ts, maxTimestamp: ts, producerId: 4242, producerEpoch: 7, baseSequence: -1, recordCount: 1, compression: 'none',
    })
    // The record: length 16 (zigzag 0x20), attributes 0, timestampDelta 0, offsetDelta 0,
    // key length 4 (0x08) 00000001, value length 6 (0x0c) 0000 00000003, no headers.
    expect(hex(bytes.subarray(61))).toBe('20' + '00' + '00' + '00' + '08' + '00000001' + '0c' + '000000000003' + '00')
    const { records } = await decodeBatch(bytes)
    expect(readControlRecord(records[0])).toEqual({ type: 'commit', coordinatorEpoch: 3 })
  })

  it('an abort marker reads as one, by edgelog and by KafkaJS (isControlBatch, inTransaction, its abort key)', async () => {
    const bytes = encodeMarkerBatch({ producerId: 9, producerEpoch: 0, type: 'abort', timestamp: 1000 })
    expect(readControlRecord((await decodeBatch(bytes)).records[0])).toEqual({ type: 'abort', coordinatorEpoch: 0 })
    const decoded = await decodeKafkaJSBatch(new Decoder(Buffer.from(bytes)))
    expect(decoded.isControlBatch).toBe(true)
    expect(decoded.inTransaction).toBe(true)
    expect(decoded.producerId).toBe('9')
    expect(decoded.firstSequence).toBe(-1)
    // KafkaJS recognises an abort marker by this key (filterAbortedMessages.js).
    expect(Buffer.from(decoded.records[0].key).equals(Buffer.from([0, 0, 0, 0]))).toBe(true)
    expect(hex(decoded.records[0].value)).toBe('000000000000')
  })

  it('refuses a marker without a producer id, and reads an unknown control type as none', () => {
    expect(() => encodeMarkerBatch({ producerId: -1, producerEpoch: 0, type: 'commit', timestamp: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }))
    expect(readControlRecord({ key: Uint8Array.of(0, 0, 0, 5), value: null })).toBeUndefined()
    expect(() => readControlRecord({ key: Uint8Array.of(0, 0), value: null })).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }))
  })
})
