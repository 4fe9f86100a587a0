// The long documents T-PPL measures perplexity on: simple stories in the register the built-in model
// was trained on (scripts/train-builtin/stories.py: the same word lists and sentence shapes), drawn
// from our own seeded generator, so they are in the model's distribution but never its training text
// (Python's random stream is not matched), and need no download. Characters, places and objects recur
// inside a story, so predicting later sentences rewards reading the earlier ones.
import { seededRng, type Rng } from './rng.js';

const words = (s: string) => s.split(' ');
const NAMES = words('Anna Ben Clara David Ella Finn Grace Henry Iris Jack Kate Leo Mia Noah Olivia Paul Quinn Rosa Sam Tom Uma Victor Wendy Max Zoe Lily Oscar Ruby Hugo Nora Felix Alice Owen Ivy Liam Emma Lucas Sara Theo Maya');
const ANIMALS = words('cat dog fox rabbit bird owl bear mouse horse duck frog turtle goat sheep lion deer squirrel');
const ADJ = words('little big happy sad brave shy kind clever quiet busy sleepy curious funny gentle proud tired hungry friendly old young');
const COLORS = words('red blue green yellow white black brown orange purple pink gray golden');
const PLACES = words('village forest garden farm town house park river castle school market beach hill valley island kitchen library harbor meadow cave');
const THINGS = words('ball book box kite hat cake apple key lamp map boat coin cup basket flower shell stone letter drum bell rope jar blanket clock');
const FOODS = words('bread soup apples honey cheese cookies rice carrots berries pie milk eggs');
const TIMES = words('morning evening afternoon night day week summer winter spring autumn');
const FEELINGS = words('happy sad scared excited surprised angry calm proud worried glad');
const ACTS = ['play in the sun', 'read old books', 'sing songs', 'paint pictures', 'climb trees', 'bake bread', 'watch the stars',
  'walk by the river', 'draw maps', 'build small boats', 'plant seeds', 'tell stories', 'count the clouds', 'collect shells'];
const WEATHER = ['The sun was warm', 'It was raining', 'The wind was cold', 'Snow covered the ground', 'The sky was clear',
  'Clouds moved over the hills', 'A storm was coming', 'The air smelled of rain'];

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[r.int(0, xs.length - 1)]!;

/** `k` distinct items in random order (Python's random.sample). */
function sample<T>(r: Rng, xs: readonly T[], k: number): T[] {
  const pool = [...xs];
  for (let i = 0; i < k; i++) {
    const j = r.int(i, pool.length - 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

function paragraph(r: Rng): string {
  const [hero, friend] = sample(r, NAMES, 2) as [string, string];
  const [he, his] = pick(r, [['he', 'his'], ['she', 'her']] as const);
  const [animal, adj, place, place2] = [pick(r, ANIMALS), pick(r, ADJ), pick(r, PLACES), pick(r, PLACES)];
  const [thing, color, food, time, act, act2, feel] = [pick(r, THINGS), pick(r, COLORS), pick(r, FOODS), pick(r, TIMES), pick(r, ACTS), pick(r, ACTS), pick(r, FEELINGS)];
  const openings = [
    `Once upon a time, there was a ${adj} ${animal} named ${hero}.`,
    `${hero} was a ${adj} ${animal} who lived in a ${place}.`,
    `In a small ${place} far away, there lived a ${adj} ${animal} called ${hero}.`,
    `Long ago, a ${adj} ${animal} named ${hero} lived near the ${place2}.`,
  ];
  const middle = [
    `${hero} lived in a ${place} near the ${place2}.`,
    `Every ${time}, ${hero} liked to ${act}.`,
    `${hero} had a ${color} ${thing} that ${he} loved very much.`,
    `${hero}'s best friend was ${friend}.`,
    `${pick(r, WEATHER)}, and ${hero} felt ${feel}.`,
    `One ${time}, ${hero} found a ${color} ${thing} in the ${place2}.`,
    `${friend} asked, "${hero}, do you want to ${act2}?"`,
    `"Yes!" said ${hero}. "Let us go to the ${place2}."`,
    `They walked to the ${place2} together.`,
    `On the way, they saw a ${pick(r, ADJ)} ${pick(r, ANIMALS)} eating ${food}.`,
    `${hero} shared ${his} ${food} with ${friend}.`,
    `Then ${hero} lost the ${color} ${thing}.`,
    `${hero} looked everywhere for the ${thing}, but ${he} could not find it.`,
    `${friend} helped ${hero} look under the trees and behind the rocks.`,
    `At last, ${friend} found the ${thing} next to a ${pick(r, THINGS)}.`,
    `${hero} said, "Thank you, ${friend}! You are a good friend."`,
    `${hero} went home to the ${place} and ate some ${food}.`,
    `${his[0]!.toUpperCase()}${his.slice(1)} mother said, "Where is your ${thing}, ${hero}?"`,
  ];
  const endings = [
    `From that day on, ${hero} always kept the ${thing} close.`,
    `${hero} learned that friends help each other.`,
    `That night, ${hero} went to sleep feeling ${pick(r, FEELINGS)}.`,
    `And ${hero} and ${friend} stayed friends for a long time.`,
    'The end.',
  ];
  return [pick(r, openings), ...sample(r, middle, r.int(6, 14)), pick(r, endings)].join(' ');
}

/** A document of stories, one story per line, at least `minChars` characters long. */
export function storyDocument(seed: number, minChars: number): string {
  const r = seededRng(seed);
  const lines: string[] = [];
  let chars = 0;
  while (chars < minChars) {
    const story = Array.from({ length: r.int(1, 3) }, () => paragraph(r)).join(' ');
    lines.push(story);
    chars += story.length + 1;
  }
  return lines.join('\n');
}
