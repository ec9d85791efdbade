//! The operations of a shared list, with Rhai's array conventions: a negative
//! index counts from the end, and an index out of range is an error.

use crate::wire::{ListOp, Value};

/// Where `index` is in a list of `len` items (`allow_end`: one past the
/// last is allowed, as for an insert), or the error saying it is not.
pub fn resolve(index: i64, len: usize, allow_end: bool) -> Result<usize, String> {
    let limit = if allow_end { len + 1 } else { len };
    let resolved = if index < 0 { len as i64 + index } else { index };
    if resolved < 0 || resolved as usize >= limit {
        return Err(format!(
            "list index {index} out of range for a list of length {len}"
        ));
    }
    Ok(resolved as usize)
}

pub fn apply_list_op(list: &mut Vec<Value>, op: ListOp) -> Result<Value, String> {
    Ok(match op {
        ListOp::Push(value) => {
            list.push(value);
            Value::Unit
        }
        ListOp::Pop => list.pop().unwrap_or(Value::Unit),
        ListOp::Insert(index, value) => {
            let at = resolve(index, list.len(), true)?;
            list.insert(at, value);
            Value::Unit
        }
        ListOp::Remove(index) => {
            let at = resolve(index, list.len(), false)?;
            list.remove(at)
        }
        ListOp::Len => Value::Int(list.len() as i64),
        ListOp::Clear => {
            list.clear();
            Value::Unit
        }
        ListOp::Contains(value) => Value::Bool(list.contains(&value)),
        ListOp::Append(values) => {
            list.extend(values);
            Value::Unit
        }
        ListOp::Get(index) => list[resolve(index, list.len(), false)?].clone(),
        ListOp::Set(index, value) => {
            let at = resolve(index, list.len(), false)?;
            list[at] = value;
            Value::Unit
        }
        ListOp::ToArray => Value::Array(list.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|&i| Value::Int(i)).collect()
    }

    #[test]
    fn negative_indices_count_from_the_end() {
        let mut list = ints(&[1, 2, 3]);
        assert_eq!(apply_list_op(&mut list, ListOp::Get(-1)), Ok(Value::Int(3)));
        apply_list_op(&mut list, ListOp::Insert(-1, Value::Int(9))).unwrap();
        assert_eq!(list, ints(&[1, 2, 9, 3]));
        apply_list_op(&mut list, ListOp::Insert(4, Value::Int(7))).unwrap();
        assert_eq!(list, ints(&[1, 2, 9, 3, 7]));
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut list = ints(&[1]);
        for op in [
            ListOp::Get(1),
            ListOp::Get(-2),
            ListOp::Remove(5),
            ListOp::Set(1, Value::Unit),
        ] {
            assert!(apply_list_op(&mut list, op).is_err());
        }
        assert_eq!(list, ints(&[1]));
    }
}
