import { runTask } from '../agent';
import { retainTask } from './retain';

void runTask(retainTask);
