/**
 * A console consumer, as `kafka-console-consumer --property print.key=true --property
 * print.partition=true --property print.offset=true` prints it, newest line last.
 */
import { h } from './dom.ts'

export interface ConsoleLine { topic: string; partition: number; offset: string; key: string | null; value: string | null; headers?: Record<string, string> }

export function formatLine(line: ConsoleLine): string {
  const headers = line.headers && Object.keys(line.headers).length
    ? `\t${Object.entries(line.headers).map(([k, v]) => `${k}:${v}`).join(',')}` : ''
  return `Partition:${line.partition}\tOffset:${line.offset}\t${line.key ?? 'null'}\t${line.value ?? 'null'}${headers}`
}

/** Keeps the last `max` lines in a live region. */
export class ConsoleView {
  readonly element: HTMLOListElement
  constructor(label: string, private readonly max = 200) {
    this.element = h('ol', { class: 'console', 'aria-label': label, 'aria-live': 'polite', tabindex: 0 })
  }

  add(line: ConsoleLine): void {
    this.element.append(h('li', { 'data-line': `${line.partition}/${line.offset}` }, formatLine(line)))
    while (this.element.children.length > this.max) this.element.firstElementChild!.remove()
    this.element.scrollTop = this.element.scrollHeight
  }

  note(text: string): void {
    this.element.append(h('li', { class: 'note' }, text))
  }

  get lines(): string[] {
    return [...this.element.children].map((li) => li.textContent ?? '')
  }
}
