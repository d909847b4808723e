import { runTask } from '../../src/tasks/agent';
import { captureTask } from '../../src/tasks/capture/capture';

void runTask(captureTask);
