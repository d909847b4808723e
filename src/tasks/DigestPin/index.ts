import { runTask } from '../agent';
import { pinTask } from './pin';

void runTask(pinTask);
