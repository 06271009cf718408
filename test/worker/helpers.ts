/**
 * What the workerd tests of the Worker share: calls to the Worker itself (SELF), unique names,
 * a topic of one partition, its object's own accounting, and waiting for a condition.
 */
import { SELF } from 'cloudflare:test'
import { expect } from 'vitest'

export const BASE = 'http://127.0.0.1'
let counter = 0

export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`

/** A JSON call to the Worker: its status and parsed body. */
export async function json(method: string, path: string, body?: unknown): Promise<{ status: number; data: any }> {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, data: await res.json() }
}

/** A new topic of one partition, named after `prefix`. */
export async function createTopic(prefix: string): Promise<string> {
  const name = unique(prefix)
  expect((await json('POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201)
  return name
}

/** JSON records (string values) to partition 0. */
export const produce = (topic: string, values: string[]) => json('POST', `/v1/topics/${topic}/partitions/0/records`, { records: values.map((value) => ({ value })) })

/** Partition 0's object's own accounting (worker/wait/activity.ts). */
export const activity = async (topic: string) => (await json('GET', `/v1/topics/${topic}/partitions/0/activity`)).data

export { until } from '../until.ts'
