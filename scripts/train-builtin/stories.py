"""Ordinary English text for the built-in model: short stories assembled from templates with a seeded generator.

The stories reuse their characters, places and objects from sentence to sentence, so a model that reads the
earlier text predicts the later text better: that is what makes perplexity over a long document depend on
attending far back, and so what makes it blow up when the positions are ones the model never saw.
"""
import random

NAMES = ("Anna Ben Clara David Ella Finn Grace Henry Iris Jack Kate Leo Mia Noah Olivia Paul Quinn Rosa Sam Tom "
         "Uma Victor Wendy Max Zoe Lily Oscar Ruby Hugo Nora Felix Alice Owen Ivy Liam Emma Lucas Sara Theo Maya").split()
ANIMALS = "cat dog fox rabbit bird owl bear mouse horse duck frog turtle goat sheep lion deer squirrel".split()
ADJ = ("little big happy sad brave shy kind clever quiet busy sleepy curious funny gentle proud tired hungry "
       "friendly old young").split()
COLORS = "red blue green yellow white black brown orange purple pink gray golden".split()
PLACES = ("village forest garden farm town house park river castle school market beach hill valley island "
          "kitchen library harbor meadow cave").split()
THINGS = ("ball book box kite hat cake apple key lamp map boat coin cup basket flower shell stone letter "
          "drum bell rope jar blanket clock").split()
FOODS = "bread soup apples honey cheese cookies rice carrots berries pie milk eggs".split()
TIMES = "morning evening afternoon night day week summer winter spring autumn".split()
ACTS = ("play in the sun", "read old books", "sing songs", "paint pictures", "climb trees", "bake bread",
        "watch the stars", "walk by the river", "draw maps", "build small boats", "plant seeds", "tell stories",
        "count the clouds", "collect shells", "fix broken clocks", "feed the ducks")
FEELINGS = "happy sad scared excited surprised angry calm proud worried glad".split()
WEATHER = ("The sun was warm", "It was raining", "The wind was cold", "Snow covered the ground",
           "The sky was clear", "Clouds moved over the hills", "A storm was coming", "The air smelled of rain")


def _story(r):
    hero, friend = r.sample(NAMES, 2)
    he, his = r.choice([("he", "his"), ("she", "her")])
    animal, adj, place, place2 = r.choice(ANIMALS), r.choice(ADJ), r.choice(PLACES), r.choice(PLACES)
    thing, color, food, time = r.choice(THINGS), r.choice(COLORS), r.choice(FOODS), r.choice(TIMES)
    act, act2, feel = r.choice(ACTS), r.choice(ACTS), r.choice(FEELINGS)
    openings = [
        f"Once upon a time, there was a {adj} {animal} named {hero}.",
        f"{hero} was a {adj} {animal} who lived in a {place}.",
        f"In a small {place} far away, there lived a {adj} {animal} called {hero}.",
        f"Long ago, a {adj} {animal} named {hero} lived near the {place2}.",
    ]
    middle = [
        f"{hero} lived in a {place} near the {place2}.",
        f"Every {time}, {hero} liked to {act}.",
        f"{hero} had a {color} {thing} that {he} loved very much.",
        f"{hero}'s best friend was {friend}.",
        f"{r.choice(WEATHER)}, and {hero} felt {feel}.",
        f"One {time}, {hero} found a {color} {thing} in the {place2}.",
        f"{friend} asked, \"{hero}, do you want to {act2}?\"",
        f"\"Yes!\" said {hero}. \"Let us go to the {place2}.\"",
        f"They walked to the {place2} together.",
        f"On the way, they saw a {r.choice(ADJ)} {r.choice(ANIMALS)} eating {food}.",
        f"{hero} shared {his} {food} with {friend}.",
        f"{friend} was {r.choice(FEELINGS)} and smiled at {hero}.",
        f"Then {hero} lost the {color} {thing}.",
        f"{hero} looked everywhere for the {thing}, but {he} could not find it.",
        f"{friend} helped {hero} look under the trees and behind the rocks.",
        f"At last, {friend} found the {thing} next to a {r.choice(THINGS)}.",
        f"{hero} said, \"Thank you, {friend}! You are a good friend.\"",
        f"After that, {hero} and {friend} liked to {act} every {r.choice(TIMES)}.",
        f"The {place2} was quiet, and the {r.choice(ANIMALS)}s were sleeping.",
        f"{hero} counted {r.randint(2, 12)} {r.choice(THINGS)}s and {r.randint(2, 9)} {food}.",
        f"{hero} went home to the {place} and ate some {food}.",
        f"{his.capitalize()} mother said, \"Where is your {thing}, {hero}?\"",
        f"{hero} told {his} mother about {friend} and the {place2}.",
    ]
    endings = [
        f"From that day on, {hero} always kept the {thing} close.",
        f"{hero} learned that friends help each other.",
        f"That night, {hero} went to sleep feeling {r.choice(FEELINGS)}.",
        f"And {hero} and {friend} stayed friends for a long time.",
        "The end.",
    ]
    body = [r.choice(openings)] + r.sample(middle, r.randint(6, 14)) + [r.choice(endings)]
    return " ".join(body)


def story(r):
    """One story of several paragraphs (a few hundred to a few thousand characters)."""
    return "\n".join(_story(r) for _ in range(r.randint(1, 3)))


def corpus(seed, n):
    r = random.Random(seed)
    return [story(r) for _ in range(n)]
