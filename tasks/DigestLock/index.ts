import { runTask } from '../../src/tasks/agent';
import { lockTask } from '../../src/tasks/lock/lock';

void runTask(lockTask);
