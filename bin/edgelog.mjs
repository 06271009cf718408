#!/usr/bin/env node
// `npx edgelog <tool>`: Kafka's command-line tools for edgelog (see cli/main.ts). dist/ is built by `npm install`.
await import('../dist/cli/node.js')
