// An intrusive circular doubly-linked list: the nodes carry their own
// links, and a sentinel node is the list's head (head.next is the front,
// head.prev the back). Used for recency order by the store and its floors:
// moving a node allocates nothing, and taking the back is O(1).

export interface Linked<T> {
  prev: T;
  next: T;
}

/** Puts node at the front of the list whose sentinel is head. node must not be in a list. */
export function linkFront<T extends Linked<T>>(head: T, node: T): void {
  const first = head.next;
  node.prev = head;
  node.next = first;
  first.prev = node;
  head.next = node;
}

/** Takes node out of its list (it then links to itself). */
export function unlink<T extends Linked<T>>(node: T): void {
  node.prev.next = node.next;
  node.next.prev = node.prev;
  node.prev = node;
  node.next = node;
}
