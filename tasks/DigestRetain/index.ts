import { runTask } from '../../src/tasks/agent';
import { retainTask } from '../../src/tasks/retain/retain';

void runTask(retainTask);
