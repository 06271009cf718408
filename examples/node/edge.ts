// The same client against the edge: `npm start` first (or pass your deployment's URL and a token).
import { connect } from 'edgelog/http'
const log = connect({ url: 'http://127.0.0.1:8787' })            // the edge (npm start); a deployment also takes token: '…'

console.log(await log.admin().listTopics())
await log.close()
