import { runTask } from '../../src/tasks/agent';
import { pinTask } from '../../src/tasks/pin/pin';

void runTask(pinTask);
