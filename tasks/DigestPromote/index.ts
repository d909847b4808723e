import { runTask } from '../../src/tasks/agent';
import { promoteTask } from '../../src/tasks/promote/promote';

void runTask(promoteTask);
