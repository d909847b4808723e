// npm run demo needs a registry server and tools to build and push images without a Docker engine.
// Installs what is missing with apt-get when it can (root on Debian or Ubuntu), or says in one line
// why it cannot and what to run.
import { execFileSync, spawnSync } from 'node:child_process';

const needed = [
  ['skopeo', 'skopeo'],
  ['umoci', 'umoci'],
  ['openssl', 'openssl'],
];
if (!process.env.DEMO_REGISTRY) needed.push(['docker-registry', 'docker-registry']);

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const missing = needed.filter(([command]) => !has(command)).map(([, pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !has('apt-get')) {
  console.error(
    `npm run demo needs ${missing.join(', ')}, which ${isRoot ? 'apt-get is not here to install' : 'only root can install'}: run "sudo apt-get install -y ${missing.join(' ')}" (Debian/Ubuntu) and try again.`,
  );
  process.exit(1);
}
console.log(`Installing ${missing.join(', ')} with apt-get ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
