import { main as capture } from './capture';
import { main as pin } from './pin';
import { main as promote } from './promote';

// npm run bench: every benchmark, one after the other. Each prints ratios against a peer measured
// in the same run; nothing here asserts.

async function run(): Promise<void> {
  await capture();
  console.log('');
  pin();
  console.log('');
  await promote();
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
