// @vitest-environment happy-dom
/**
 * The demo app over in-process logs (memory storage standing in for the edge and the browser):
 * the forms drive the same client calls, and what they show follows the log.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openLog } from '../../core/open-log.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { App, TOPIC_KINDS } from '../../web-demo/src/app.ts'

const apps: App[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) {
    await app.stop()
    for (const s of app.stores) await s.client.close()
  }
  document.body.replaceChildren()
})

async function mount(storage?: Map<string, string>) {
  const client = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  const root = document.createElement('main')
  document.body.append(root)
  const saved = storage ?? new Map<string, string>()
  const app = new App(root, [{ id: 'edge', label: 'Edge log (memory in this test)', client }], {
    tabId: 'tab-test', intervalMs: 50, storage: { getItem: (k) => saved.get(k) ?? null, setItem: (k, v) => { saved.set(k, v) } },
    online: () => true,
  })
  apps.push(app)
  await app.refresh()
  return { app, root, client, saved }
}

function fill(root: HTMLElement, selector: string, value: string): void {
  const el = root.querySelector<HTMLInputElement | HTMLSelectElement>(selector)!
  el.value = value
}

async function submit(app: App, root: HTMLElement, form: string): Promise<void> {
  root.querySelector<HTMLFormElement>(form)!.dispatchEvent(new Event('submit', { cancelable: true }))
  await new Promise((r) => setTimeout(r, 0))
  await app.refresh()
}

describe('the demo app', () => {
  it('labels every control', async () => {
    const { root } = await mount()
    for (const control of root.querySelectorAll('input, select')) {
      const id = control.id
      const labelled = (id && root.querySelector(`label[for="${id}"]`)) || control.closest('label')
      expect(labelled, `${control.outerHTML} has a label`).toBeTruthy()
    }
    expect(root.querySelector('h1')!.textContent).toContain('edgelog')
  })

  it('creates a topic, produces by key and to a chosen partition, and draws the records at their offsets', async () => {
    const { app, root } = await mount()
    expect(root.querySelector('.picture')!.textContent).toContain('No topics in this store yet')
    fill(root, '#topic-name', 'email')
    fill(root, '#topic-partitions', '3')
    await submit(app, root, '#create-topic')
    await vi.waitFor(() => expect(root.querySelectorAll('.topic[data-topic="email"] .partition')).toHaveLength(3))
    expect([...root.querySelectorAll<HTMLOptionElement>('#produce-partition option')].map((o) => o.value)).toEqual(['key', '0', '1', '2'])

    fill(root, '#produce-key', 'u1')
    fill(root, '#produce-value', 'hi')
    fill(root, '#produce-headers', 'h=v')
    await submit(app, root, '#produce')
    // murmur2('u1') % 3 === 1, as Kafka's Java client.
    await vi.waitFor(() => expect(root.querySelector<HTMLElement>('.sends li')!.dataset.offset).toBe('1/0'))
    fill(root, '#produce-key', '')
    fill(root, '#produce-value', 'to two')
    fill(root, '#produce-partition', '2')
    await submit(app, root, '#produce')
    await vi.waitFor(() => expect(root.querySelector<HTMLElement>('.sends li')!.dataset.offset).toBe('2/0'))
    await app.refresh()
    const cell = root.querySelector('.partition[data-partition="1"] .cell.record[data-offset="0"]')!
    expect(cell.getAttribute('title')).toBe('offset 0: key "u1", value "hi", headers {"h":"v"}')
    expect(root.querySelector('.partition[data-partition="2"] .hw')!.textContent).toBe('HW 1')
  })

  it('a console consumer prints what is produced, from the beginning', async () => {
    const { app, root, client } = await mount()
    await client.admin().createTopics({ topics: [{ topic: 'greetings', numPartitions: 1 }] })
    await client.producer().send({ topic: 'greetings', messages: [{ key: 'a', value: 'hello' }, { key: 'b', value: 'world' }] })
    await app.refresh()
    await submit(app, root, '#console-form')
    await vi.waitFor(() => expect(app.consoleLines().consoles[0]).toEqual(['Partition:0\tOffset:0\ta\thello', 'Partition:0\tOffset:1\tb\tworld']), { timeout: 5_000 })
    root.querySelector<HTMLButtonElement>('.console-card button')!.click()
    await vi.waitFor(() => expect(root.querySelectorAll('.console-card')).toHaveLength(0))
  })

  it('explains a typed error beside the form it came from', async () => {
    const { app, root } = await mount()
    fill(root, '#topic-name', 'bad name!')
    await submit(app, root, '#create-topic')
    await vi.waitFor(() => expect(root.querySelector('[role=alert]')?.textContent).toContain('INVALID_TOPIC_EXCEPTION'))
    expect(root.querySelector('[role=alert]')!.textContent).toContain('letters, digits, dots')
  })

  it('a member of a group sees its partitions and the lag', async () => {
    const { app, root, client } = await mount()
    await client.admin().createTopics({ topics: [{ topic: 'jobs', numPartitions: 3 }] })
    await client.producer().send({ topic: 'jobs', messages: Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) })
    await app.refresh()
    fill(root, '#group-id', 'workers')
    await submit(app, root, '#group-form')
    await vi.waitFor(async () => {
      await app.refresh()
      expect(root.querySelector<HTMLElement>('.member.me')?.dataset.partitions).toBe('jobs-0,jobs-1,jobs-2')
    }, { timeout: 10_000, interval: 100 })
    await vi.waitFor(async () => {
      await app.refresh()
      expect([...root.querySelectorAll('table.lag tbody td:nth-child(4)')].map((td) => td.textContent)).toEqual(['0', '0', '0'])
    }, { timeout: 15_000, interval: 200 })
    expect(app.consoleLines().group).toHaveLength(9)
  }, 30_000)

  it('a compacted demo topic keeps the latest value per key once cleaned', async () => {
    const { app, root, client } = await mount()
    await client.admin().createTopics({ topics: [{ topic: 'profiles', numPartitions: 1, configEntries: TOPIC_KINDS.compact.configEntries }] })
    const producer = client.producer()
    for (let i = 0; i < 12; i++) await producer.send({ topic: 'profiles', messages: [{ key: `k${i % 3}`, value: `value number ${i}` }] })
    await app.refresh()
    root.querySelector<HTMLButtonElement>('#maintain')!.click()
    await vi.waitFor(async () => {
      await app.refresh()
      expect(root.querySelectorAll('.cell.removed.compaction').length).toBeGreaterThan(0)
    }, { timeout: 5_000, interval: 100 })
    const keys = [...root.querySelectorAll('.cell.record')].map((c) => c.getAttribute('title'))
    expect(keys.at(-1)).toContain('value "value number 11"')
  })

  it('remembers the topic shown across a reload', async () => {
    const first = await mount()
    await first.client.admin().createTopics({ topics: [{ topic: 'a' }, { topic: 'b' }] })
    await first.app.refresh()
    const select = first.root.querySelector<HTMLSelectElement>('#topic-select')!
    select.value = 'b'
    select.dispatchEvent(new Event('change'))
    expect(JSON.parse(first.saved.get('edgelog-demo')!)).toEqual({ store: 'edge', topics: { edge: 'b' } })
  })
})
